"""SIGTERM or SIGINT under load loses nothing: every body answered 200 is in the SQLite store."""

from __future__ import annotations

import http.client
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from simulator.mock import LISTENING_PREFIX, digest_all
from tests.integration import mock_support as ms
from tests.integration.faults import lock_store, release

pytestmark = pytest.mark.integration

CLIENTS = 4
MAX_REQUESTS_PER_CLIENT = 20_000
MAX_SECONDS = 15.0


def _client(url: str, worker: int, acked: list[bytes], stop: threading.Event) -> None:
    conn = ms.connect(url, timeout=5)
    deadline = time.monotonic() + MAX_SECONDS
    for i in range(MAX_REQUESTS_PER_CLIENT):
        if stop.is_set() or time.monotonic() > deadline:
            return
        body = orjson.dumps(ms.event(worker + 1, value=i))
        try:
            conn.request("POST", f"/webhook/w{worker}", body=body, headers=ms.HEADERS)
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            return  # the server went away: everything acknowledged so far must be stored
        if resp.status == 200:
            acked.append(body)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_under_load_loses_nothing_acknowledged(tmp_path: Path, sig: signal.Signals) -> None:
    store = tmp_path / "mock.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator.mock", "--port", "0", "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith(LISTENING_PREFIX), line + proc.stderr.read()  # type: ignore[union-attr]
        url = line[len(LISTENING_PREFIX) :].strip()
        acked: list[list[bytes]] = [[] for _ in range(CLIENTS)]
        stop = threading.Event()
        threads = [threading.Thread(target=_client, args=(url, w, acked[w], stop)) for w in range(CLIENTS)]
        for t in threads:
            t.start()
        # Signal once load is flowing, mid-batch (the store flushes every 50 ms).
        deadline = time.monotonic() + 10
        while sum(map(len, acked)) < 500 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.023)
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0
        stop.set()
        for t in threads:
            t.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    sent = [body for bodies in acked for body in bodies]
    assert len(sent) >= 500
    with sqlite3.connect(store) as db:
        stored = [row[0] for row in db.execute("SELECT body FROM accepted WHERE endpoint = 'events'")]
    assert set(sent) <= set(stored)
    # Nothing stored twice, nothing invented: at most the answers in flight when the signal came.
    assert len(stored) == len(set(stored))
    assert len(stored) - len(sent) <= CLIENTS
    if len(stored) == len(sent):
        assert digest_all(stored) == digest_all(sent)


def test_acknowledged_rows_lost_at_stop_exit_nonzero(tmp_path: Path) -> None:
    """A store locked past the close retry: the rows answered 200 are lost, and the exit code says so."""
    from simulator.mock.store import CLOSE_RETRY_S

    store = tmp_path / "mock.sqlite3"
    proc, url = ms.start_mock("--store", str(store))
    locker = None
    try:
        conn = ms.connect(url)
        assert ms.post(conn, "/webhook/s", ms.event(1, value=1))[0] == 200
        locker = lock_store(store, CLOSE_RETRY_S + 20)
        # Answered before the next flush finds the lock: acknowledged, and now unwritable.
        assert ms.post(conn, "/webhook/s", ms.event(1, value=2))[0] == 200
        conn.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            c = ms.connect(url)
            c.request("GET", "/_admin/health")
            status = c.getresponse().status
            c.close()
            if status == 503:
                break
            time.sleep(0.05)
        assert status == 503
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=CLOSE_RETRY_S + 15)
        err = proc.stderr.read()  # type: ignore[union-attr]
    finally:
        release(locker)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "could not be written before stopping" in err, err
    assert code == 2, (code, err)
