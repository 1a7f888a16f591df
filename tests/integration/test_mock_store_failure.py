"""A store that cannot write never costs an acknowledged body (issue #15, defect 1).

Against the real server in a subprocess: another process holds SQLite's write lock for longer
than any busy wait, or the disk fills up. While the store cannot write, new tracking requests get
503 with Retry-After, the health endpoint says why, the event loop keeps answering at once, and
every body answered 200 ends up in the database, counted in ``stats()["stored"]``.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from simulator.mock import MockServer, digest_all
from tests.integration import mock_support as ms
from tests.integration.faults import lock_store, release, small_disk

pytestmark = pytest.mark.integration

#: Longer than the 5 s busy wait of Python's sqlite3 (the old mock stalled on it, then gave up for good).
LOCK_S = 7.0


def _get(url: str, path: str) -> tuple[int, Any]:
    conn = ms.connect(url, timeout=20)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, orjson.loads(resp.read())
    finally:
        conn.close()


def _wait(cond: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def _stored_bodies(path: Path) -> list[bytes]:
    import sqlite3

    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT body FROM accepted WHERE endpoint = 'events'")]


def _check_nothing_lost(senders: list[ms.Sender], stored: list[bytes], stats: dict[str, Any]) -> None:
    acked = [b for s in senders for b in s.acked]
    lost = set(acked) - set(stored)
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged bodies were not stored"
    # Nothing answered 503 was stored behind the client's back: the stored set is exactly the acked one.
    assert sorted(stored) == sorted(acked)
    assert stats["stored"]["events"] == {"count": len(acked), "digest": digest_all(acked)}


def test_a_locked_store_answers_503_keeps_serving_and_loses_nothing(tmp_path: Path) -> None:
    store = tmp_path / "mock.sqlite3"
    proc, url = ms.start_mock("--store", str(store))
    locker: subprocess.Popen[str] | None = None
    try:
        senders = [ms.Sender(url, w, max_seconds=40).start() for w in range(2)]
        assert _wait(lambda: sum(len(s.acked) for s in senders) >= 300, 20)
        locker = lock_store(store, LOCK_S)
        assert _wait(lambda: any(s.statuses.get(503) for s in senders), 5), "no 503 while the store was locked"
        status, health = _get(url, "/_admin/health")
        assert status == 503 and "lock" in health["reason"], health
        assert locker.wait(timeout=30) == 0
        before = sum(len(s.acked) for s in senders)
        assert _wait(lambda: sum(len(s.acked) for s in senders) > before + 200, 15), "no 200s after the lock ended"
        for s in senders:
            s.join()
        time.sleep(0.3)  # a flush interval or more: every acknowledged row committed
        status, health = _get(url, "/_admin/health")
        assert status == 200 and health["status"] == "ok", health
        _, stats = _get(url, "/_admin/stats")
    finally:
        release(locker)
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "cannot write" in err and "database is locked" in err, err
    # The loop never sat in SQLite's busy wait: every answer came at once (it stalled 4.8 s before).
    assert max(s.slowest for s in senders) < 2.0, [s.slowest for s in senders]
    assert all(s.retry_after <= {"1"} for s in senders), [s.retry_after for s in senders]
    _check_nothing_lost(senders, _stored_bodies(store), stats)


@pytest.fixture
def disk(tmp_path: Path) -> Any:
    """A 512 KiB tmpfs (root only: skipped elsewhere, the injected disk-full test below still runs)."""
    with small_disk(tmp_path, "512k") as mnt:
        yield mnt


def test_a_full_disk_answers_503_and_loses_nothing_once_space_returns(disk: Path) -> None:
    store = disk / "mock.sqlite3"
    proc, url = ms.start_mock("--store", str(store))
    try:
        senders = [ms.Sender(url, w, max_seconds=40).start() for w in range(2)]
        assert _wait(lambda: any(s.statuses.get(503) for s in senders), 25), "no 503 on a full disk"
        status, health = _get(url, "/_admin/health")
        assert status == 503 and "full" in health["reason"], health
        status, events = _get(url, "/_admin/events?limit=5")
        assert status == 200 and len(events["events"]) == 5, events  # was a 500
        subprocess.run(["mount", "-o", "remount,size=32m", str(disk)], check=True)
        before = sum(len(s.acked) for s in senders)
        assert _wait(lambda: sum(len(s.acked) for s in senders) > before + 200, 15), "no 200s once space returned"
        for s in senders:
            s.join()
        time.sleep(0.3)
        _, stats = _get(url, "/_admin/stats")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "cannot write" in err and "full" in err, err
    _check_nothing_lost(senders, _stored_bodies(store), stats)


def test_an_injected_write_error_answers_503_then_recovers(tmp_path: Path) -> None:
    """The disk-full path without root: SQLite's own page limit makes every INSERT fail with SQLITE_FULL."""
    store = tmp_path / "mock.sqlite3"
    with MockServer(store=str(store)) as mock:
        assert mock.app is not None
        senders = [ms.Sender(mock.url, w, max_seconds=40).start() for w in range(2)]
        assert _wait(lambda: sum(len(s.acked) for s in senders) >= 200, 20)
        db = mock.app.store._db  # the server's own connection: the error comes from real SQLite writes
        with mock.app.store._lock:
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            db.execute(f"PRAGMA max_page_count = {pages}")
        assert _wait(lambda: any(s.statuses.get(503) for s in senders), 20), "no 503 when SQLite cannot write"
        status, health = _get(mock.url, "/_admin/health")
        assert status == 503 and "full" in health["reason"], health
        with mock.app.store._lock:
            db.execute("PRAGMA max_page_count = 1073741823")
        before = sum(len(s.acked) for s in senders)
        assert _wait(lambda: sum(len(s.acked) for s in senders) > before + 200, 15), "no 200s after the error ended"
        for s in senders:
            s.join()
        time.sleep(0.3)
        stats = mock.stats()
    _check_nothing_lost(senders, _stored_bodies(store), stats)


def test_sync_mode_writes_again_once_a_short_lock_ends(tmp_path: Path) -> None:
    """``--sync``: the 503 of a failed COMMIT leaves nothing pending, and the mock must still notice the lock end."""
    store = tmp_path / "mock.sqlite3"
    proc, url = ms.start_mock("--store", str(store), "--sync")
    locker: subprocess.Popen[str] | None = None
    conn = ms.connect(url, timeout=20)
    try:
        assert ms.post(conn, "/webhook/s", ms.event(1, value=1))[0] == 200
        locker = lock_store(store, 1)
        assert ms.post(conn, "/webhook/s", ms.event(1, value=2))[0] == 503
        assert locker.wait(timeout=30) == 0
        statuses = []
        for i in range(50):  # 5 s at most: the lock ended, so writes must resume at once
            status, _ = ms.post(conn, "/webhook/s", ms.event(1, value=3 + i))
            statuses.append(status)
            if status == 200:
                break
            time.sleep(0.1)
        assert statuses[-1] == 200, f"still {statuses[-1]} {len(statuses)} requests after the lock ended"
        status, health = _get(url, "/_admin/health")
        assert status == 200 and health["status"] == "ok", health
    finally:
        conn.close()
        release(locker)
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "writes again" in err, err
    # In --sync the failed row was answered 503: it is not "acknowledged", nor "kept and retried".
    assert "acknowledged rows are kept" not in err, err
    assert len(_stored_bodies(store)) == 1 + statuses.count(200)
