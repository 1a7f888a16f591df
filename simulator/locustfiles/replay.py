"""Replays a dataset written by `loadsim generate`, in order per device, and reports like `loadsim run`.

Usage: locust -f "$(loadsim locustfile replay)" --headless --host http://127.0.0.1:8080 --dataset DIR --speed 60 -u 20
(or `loadsim replay DIR`, which starts the mock for you; --speed 0 sends as fast as the target answers,
--restamp moves added_at to the send time).
"""

from simulator.loadtest.replay import ReplayUser

__all__ = ["ReplayUser"]
