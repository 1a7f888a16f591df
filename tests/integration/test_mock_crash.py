"""What a SIGKILL costs (issue #15, defect 5), measured against the real server in a subprocess.

By default the mock answers 200 before the COMMIT of its batch (every 50 ms on a fixed cadence),
so a crash loses the bodies answered since the last COMMIT: those of the last flush interval plus
one flush's duration. ``--sync`` commits before answering and loses nothing.
"""

from __future__ import annotations

import http.client
import signal
import sqlite3
import threading
import time
from pathlib import Path

import orjson
import pytest

from simulator.mock.store import FLUSH_INTERVAL_S
from tests.integration import mock_support as ms

pytestmark = pytest.mark.integration

CLIENTS = 4
#: What this test allows beyond one flush interval: a flush's own duration on a noisy shared machine.
MARGIN_S = 0.25


def _client(url: str, worker: int, acked: list[tuple[float, bytes]], stop: threading.Event) -> None:
    conn = ms.connect(url, timeout=5)
    deadline = time.monotonic() + 20
    for i in range(20_000):
        if stop.is_set() or time.monotonic() > deadline:
            return
        body = orjson.dumps(ms.event(worker + 1, value=worker * 100_000 + i))
        try:
            conn.request("POST", f"/webhook/k{worker}", body=body, headers=ms.HEADERS)
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            return
        if resp.status == 200:
            acked.append((time.monotonic(), body))


def _kill_under_load(tmp_path: Path, *flags: str) -> tuple[list[tuple[float, bytes]], set[bytes], float]:
    store = tmp_path / "mock.sqlite3"
    proc, url = ms.start_mock("--store", str(store), *flags)
    acked: list[list[tuple[float, bytes]]] = [[] for _ in range(CLIENTS)]
    stop = threading.Event()
    threads = [threading.Thread(target=_client, args=(url, w, acked[w], stop)) for w in range(CLIENTS)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 15
        while sum(map(len, acked)) < 2000 and time.monotonic() < deadline:
            time.sleep(0.01)
        killed_at = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
    with sqlite3.connect(store) as db:
        stored = {row[0] for row in db.execute("SELECT body FROM accepted")}
    return [a for per in acked for a in per], stored, killed_at


def test_sigkill_loses_at_most_the_last_flush_interval(tmp_path: Path) -> None:
    acked, stored, killed_at = _kill_under_load(tmp_path)
    assert len(acked) >= 2000
    lost = [(at, body) for at, body in acked if body not in stored]
    window = max((killed_at - at for at, _ in lost), default=0.0)
    print(f"SIGKILL: {len(lost)} of {len(acked)} acknowledged bodies lost, answered in the last {window * 1000:.0f} ms")
    assert window <= FLUSH_INTERVAL_S + MARGIN_S, f"lost bodies answered {window:.3f} s before the kill"


def test_sigkill_with_sync_loses_nothing(tmp_path: Path) -> None:
    acked, stored, _ = _kill_under_load(tmp_path, "--sync")
    assert len(acked) >= 2000
    lost = [body for _, body in acked if body not in stored]
    assert not lost, f"--sync lost {len(lost)} of {len(acked)} acknowledged bodies"
