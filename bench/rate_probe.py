"""Loaded beside the measured locustfile by bench_harness: at test stop, writes Locust's requests
per whole second (``stats.total.num_reqs_per_sec``) as JSON to the path in ``$LOADSIM_RATE_PROBE``."""

import os
from pathlib import Path
from typing import Any

import orjson
from locust import events


@events.test_stop.add_listener
def _dump(environment: Any, **_: Any) -> None:
    path = os.environ.get("LOADSIM_RATE_PROBE")
    if path:
        per_second = environment.stats.total.num_reqs_per_sec
        Path(path).write_bytes(orjson.dumps({str(t): n for t, n in sorted(per_second.items())}))
