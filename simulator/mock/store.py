"""The mock's SQLite store: every accepted body, and every rejected one with its problems.

The event loop appends a tuple to a list per body (well under a microsecond) and calls
``flush()`` every ``FLUSH_INTERVAL_S``, which writes the batch with one ``executemany`` in one
transaction. Not a writer thread: CPython's sqlite3 releases and retakes the GIL around every
row's ``sqlite3_step``, so on one core a writer thread convoys with the event loop (measured:
half the requests/s, and run-to-run swings of 2x); a 600-row batch every 50 ms costs the loop
about 1.5 ms. ``flush()`` writes what is pending now, and ``close()`` flushes before it
closes, so a body answered 200 is in the database once the server has stopped. The hot table
has no index beyond its rowid; the admin queries scan, which is fine at admin rates.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from simulator.mock import threads

__all__ = ["FLUSH_INTERVAL_S", "Store"]

#: Seconds between batch writes; also the most a crash (not a SIGTERM) could lose.
FLUSH_INTERVAL_S = 0.05
#: Seconds between WAL checkpoints (by a background thread, off the event loop).
CHECKPOINT_INTERVAL_S = 0.5

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accepted (
    id INTEGER PRIMARY KEY,
    endpoint TEXT NOT NULL,      -- externalIds | identify | events
    received_at REAL NOT NULL,   -- Unix seconds, server clock
    uid TEXT NOT NULL,
    sid TEXT NOT NULL,
    profile_id INTEGER NOT NULL, -- the profile the body was attributed to when it arrived
    source TEXT,                 -- the webhook source of an event
    body BLOB NOT NULL           -- the raw request body, byte for byte
);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    endpoint TEXT,               -- null for unknown paths
    received_at REAL NOT NULL,
    status INTEGER NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    path TEXT NOT NULL,
    body BLOB NOT NULL           -- the first MAX_REJECTED_BODY bytes
);
"""
#: Bytes of a rejected body kept; a 100 MB upload is not worth 100 MB of disk.
MAX_REJECTED_BODY = 64 * 1024

AcceptedRow = tuple[str, float, str, str, int, str | None, bytes]
RejectedRow = tuple[str | None, float, int, str, str, str, bytes]


class Store:
    """SQLite at ``path`` (a file, or ``":memory:"``), written in batches by ``flush()``."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # OS-level primitives even under gevent's monkey patching (see ``threads``).
        self._lock = threads.lock()
        self._stop = threads.lock()
        self._stop.acquire()
        self._checkpointer: threads.OSThread | None = None
        if path != ":memory:":
            # WAL + synchronous=NORMAL: a committed batch survives a process crash; an OS crash
            # may lose the last batch, acceptable for a test double.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints copy the WAL into the database and fsync: 25-50 ms stalls measured when
            # they ran inside the loop's commits. A thread with its own connection runs them
            # instead (sqlite releases the GIL meanwhile); commits never wait for them in WAL mode.
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = threads.OSThread(self._checkpoint)
        self._db.executescript(_SCHEMA)
        if self._checkpointer is not None:
            self._checkpointer.start()
        self._accepted: list[AcceptedRow] = []
        self._rejected: list[RejectedRow] = []
        self.written = 0
        self._closed = False

    def add_accepted(
        self, endpoint: str, received_at: float, uid: str, sid: str, profile_id: int, source: str | None, body: bytes
    ) -> None:
        self._accepted.append((endpoint, received_at, uid, sid, profile_id, source, body))

    def add_rejected(
        self, endpoint: str | None, received_at: float, status: int, reason: str, message: str, path: str, body: bytes
    ) -> None:
        self._rejected.append((endpoint, received_at, status, reason, message, path, body[:MAX_REJECTED_BODY]))

    def _checkpoint(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            while not self._stop.acquire(timeout=CHECKPOINT_INTERVAL_S):  # acquired = close() asked to stop
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    @property
    def pending(self) -> int:
        return len(self._accepted) + len(self._rejected)

    def flush(self) -> None:
        """Write everything appended so far; safe from any thread (the lock guards the connection)."""
        with self._lock:
            acc, self._accepted = self._accepted, []
            rej, self._rejected = self._rejected, []
            if not (acc or rej) or self._closed:
                if acc or rej:
                    raise RuntimeError("the store is closed; these rows would be lost")
                return
            db = self._db
            db.execute("BEGIN")
            if acc:
                db.executemany(
                    "INSERT INTO accepted (endpoint, received_at, uid, sid, profile_id, source, body)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    acc,
                )
            if rej:
                db.executemany(
                    "INSERT INTO rejected (endpoint, received_at, status, reason, message, path, body)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rej,
                )
            db.execute("COMMIT")
            self.written += len(acc)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Flush, then run a read query (for the admin API and tests)."""
        self.flush()
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def reset(self) -> None:
        with self._lock:
            self._accepted, self._rejected = [], []
            self._db.execute("DELETE FROM accepted")
            self._db.execute("DELETE FROM rejected")
            self.written = 0

    def close(self) -> None:
        """Flush and close; idempotent."""
        if self._closed:
            return
        self._stop.release()
        if self._checkpointer is not None:
            self._checkpointer.join()
        self.flush()
        with self._lock:
            self._closed = True
            self._db.close()  # the last connection to close checkpoints and removes the WAL
