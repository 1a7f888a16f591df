"""Locust in this process: an ``Environment`` with the device user against the in-process mock."""

from __future__ import annotations

from pathlib import Path

import gevent
import locust
import orjson
import pytest
from locust.argument_parser import parse_options
from locust.env import Environment

import simulator.loadtest  # registers the harness's listeners and arguments
from simulator.mock import MockServer

pytestmark = pytest.mark.integration


def test_environment_run_names_requests_by_step_and_counts_agree(tmp_path: Path) -> None:
    with MockServer(store=":memory:") as mock:
        opts = parse_options(
            args=[
                "-f",
                "simulator/locustfiles/tracking.py",
                "--scenario",
                "smoke",
                "--headless",
                "--report-dir",
                str(tmp_path),
            ]
        )
        env = Environment(
            user_classes=[simulator.loadtest.DeviceUser], host=mock.url, events=locust.events, parsed_options=opts
        )
        runner = env.create_local_runner()
        env.events.init.fire(environment=env, runner=runner, web_ui=None)
        runner.start(5, spawn_rate=5)
        gevent.spawn_later(6, runner.quit)
        runner.greenlet.join(timeout=30)
        env.events.quitting.fire(environment=env, reverse=True)
        mock_stats = mock.stats()

    names = {e.name for e in env.stats.entries.values()}
    assert {"externalIds", "event:App Open"} <= names
    assert names <= {"externalIds", "identify"} | {n for n in names if n.startswith("event:")}
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())
    # Locust's counts, the harness's and the mock's agree request for request
    assert env.stats.total.num_requests == summary["total"]["count"] > 0
    for name, entry in env.stats.entries.items():
        assert summary["steps"][name[0]]["count"] == entry.num_requests
    for endpoint, row in summary["reconciliation"]["endpoints"].items():
        # Users stopped mid-request: the mock may hold those bodies though no 200 came back.
        assert row["acknowledged"] == summary["endpoints"].get(endpoint, {"count": 0})["count"]
        assert 0 <= mock_stats["accepted"][endpoint] - row["acknowledged"] <= row["interrupted"]
    assert summary["reconciliation"]["ok"] and summary["passed"]
    assert env.process_exit_code == 0
