"""The mock's SQLite store: every accepted body, and every rejected one with its problems.

The event loop appends a tuple to a list per body (well under a microsecond) and calls
``flush()`` every ``FLUSH_INTERVAL_S``, which writes the batch with one ``executemany`` in one
transaction. Not a writer thread: CPython's sqlite3 releases and retakes the GIL around every
row's ``sqlite3_step``, so on one core a writer thread convoys with the event loop (measured:
half the requests/s, and run-to-run swings of 2x); a 600-row batch every 50 ms costs the loop
about 1.5 ms. ``flush()`` writes what is pending now, and ``close()`` flushes before it
closes, so a body answered 200 is in the database once the server has stopped. The hot table
has no index beyond its rowid; the admin queries scan, which is fine at admin rates.

A write that fails (another process holds the write lock, the disk is full) rolls back and
keeps its batch for the next flush; the loop's connection has no busy wait, so the loop never
sits in SQLite waiting for a lock. While a write is failing, or while more than ``max_pending``
rows wait, ``unavailable()`` says why and the server answers new tracking requests 503. The
``stored`` counts and digests grow only once a COMMIT has succeeded.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import time
from typing import Any

from simulator.contract import ENDPOINT_NAMES
from simulator.digest import DIGEST_MASK
from simulator.mock import threads

__all__ = ["FLUSH_INTERVAL_S", "MAX_MEMORY_BYTES", "MAX_PENDING", "Store"]

#: Seconds between batch writes. A crash (SIGKILL, not SIGTERM) loses what was answered since the
#: last COMMIT: at most this plus one flush's duration (measured by ``test_mock_crash``); ``--sync`` loses nothing.
FLUSH_INTERVAL_S = 0.05
#: Seconds between WAL checkpoints (by a background thread, off the event loop).
CHECKPOINT_INTERVAL_S = 0.5
#: Rows waiting for a write beyond which the store "cannot keep up" and new requests get 503.
MAX_PENDING = 50_000
#: Bytes of bodies a ``:memory:`` store keeps; past them it counts and digests without keeping bodies.
MAX_MEMORY_BYTES = 256 * 1024 * 1024
#: What SQLite spends on a row beside its body (columns, b-tree), counted against that cap.
ROW_OVERHEAD = 160
#: Seconds ``close()`` keeps retrying a failing write (off the loop: the server has stopped).
CLOSE_RETRY_S = 10.0

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
#: Characters of a rejected request's path kept (a 4 MiB URL is a scan, not a path worth keeping).
MAX_REJECTED_PATH = 1024

_INSERT_ACCEPTED = (
    "INSERT INTO accepted (endpoint, received_at, uid, sid, profile_id, source, body) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_REJECTED = (
    "INSERT INTO rejected (endpoint, received_at, status, reason, message, path, body) VALUES (?, ?, ?, ?, ?, ?, ?)"
)

AcceptedRow = tuple[str, float, str, str, int, str | None, bytes]
RejectedRow = tuple[str | None, float, int, str, str, str, bytes]


def _say(message: str) -> None:
    print(f"loadsim mock: {message}", file=sys.stderr, flush=True)


class Store:
    """SQLite at ``path`` (a file, or ``":memory:"``), written in batches by ``flush()``."""

    def __init__(
        self,
        path: str = ":memory:",
        *,
        max_pending: int = MAX_PENDING,
        max_memory_bytes: int = MAX_MEMORY_BYTES,
        sync: bool = False,
    ) -> None:
        self.path = path
        #: ``--sync``: a row whose write fails is answered 503 and dropped, never kept (only the log differs).
        self.sync = sync
        #: Rows waiting beyond which ``unavailable()`` reports that the store cannot keep up.
        self.max_pending = max_pending
        #: A ``:memory:`` store's cap on the bytes of the rows it keeps (``None`` for a file: the disk is the cap).
        self.max_memory_bytes: int | None = max_memory_bytes if path == ":memory:" else None
        #: Bytes of the rows kept so far (``:memory:`` only) and the accepted bodies counted but not kept.
        self.memory_bytes = 0
        self.bodies_dropped = 0
        # OS-level primitives even under gevent's monkey patching (see ``threads``).
        self._lock = threads.lock()
        self._stop = threads.lock()
        self._stop.acquire()
        self._checkpointer: threads.OSThread | None = None
        try:
            self._open(path)
        except sqlite3.Error as exc:
            # A missing directory, a directory, a file that is not SQLite, a lock held too long.
            raise ValueError(
                f"--store {path}: cannot open it as an SQLite database ({exc}); name a file in a writable "
                "directory (it is created), or :memory:"
            ) from None
        self._accepted: list[AcceptedRow] = []
        self._rejected: list[RejectedRow] = []
        self.written = 0
        #: Per endpoint, the rows durably committed and the sum modulo 2**64 of their digests: the
        #: running totals of every row added, as they stood when the last successful COMMIT began.
        self.stored_count = dict.fromkeys(ENDPOINT_NAMES, 0)
        self.stored_digest = dict.fromkeys(ENDPOINT_NAMES, 0)
        self._added_count = dict.fromkeys(ENDPOINT_NAMES, 0)
        self._added_digest = dict.fromkeys(ENDPOINT_NAMES, 0)
        #: Why the last write failed (SQLite's message); ``None`` while writes succeed.
        self.error: str | None = None
        #: ``time.monotonic()`` of the first failure of the current run of failures.
        self.failing_since: float | None = None
        #: Rejected rows not kept because the store was failing or behind (they were never acknowledged).
        self.rejected_not_stored = 0
        self._closed = False
        #: Acknowledged rows ``close()`` could not write (the store was still failing): they are lost.
        self.lost = 0

    def _open(self, path: str) -> None:
        """Connect, set up WAL and the schema; raises ``sqlite3.Error`` (nothing left open) when it cannot."""
        # timeout=0: no busy wait on the loop's thread; a locked database fails the flush at
        # once, the batch is kept, and the next flush tries again.
        self._db = db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=0)
        try:
            if path != ":memory:":
                self._retry_on_lock(lambda: db.execute("PRAGMA journal_mode=WAL"))
                # WAL + synchronous=NORMAL: a committed batch survives a process crash; an OS crash
                # may lose the last batch, acceptable for a test double.
                db.execute("PRAGMA synchronous=NORMAL")
                # Checkpoints copy the WAL into the database and fsync: 25-50 ms stalls measured when
                # they ran inside the loop's commits. A thread with its own connection runs them
                # instead (sqlite releases the GIL meanwhile); commits never wait for them in WAL mode.
                db.execute("PRAGMA wal_autocheckpoint=0")
            self._retry_on_lock(lambda: db.executescript(_SCHEMA))
            #: The highest profile id of the rows already in the file (0 for a new store): a restarted
            #: mock numbers its profiles after it, so that the admin queries by profile id never mix an
            #: earlier run's people with this run's. One scan at start-up (the hot table has no index).
            self.max_profile_id: int = db.execute("SELECT COALESCE(MAX(profile_id), 0) FROM accepted").fetchone()[0]
        except BaseException:
            db.close()
            raise
        if path != ":memory:":
            self._checkpointer = threads.OSThread(self._checkpoint)
            self._checkpointer.start()

    def _retry_on_lock(self, op: Any, seconds: float = CLOSE_RETRY_S) -> None:
        """Run ``op`` at start-up, waiting out a lock held by another process (nothing is served yet)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                op()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def add_accepted(
        self,
        endpoint: str,
        received_at: float,
        uid: str,
        sid: str,
        profile_id: int,
        source: str | None,
        body: bytes,
        digest: int,
    ) -> None:
        self._accepted.append((endpoint, received_at, uid, sid, profile_id, source, body))
        # Running totals (summed here, not per row at COMMIT: cheaper); masked when snapshotted.
        self._added_count[endpoint] += 1
        self._added_digest[endpoint] += digest

    def add_rejected(
        self, endpoint: str | None, received_at: float, status: int, reason: str, message: str, path: str, body: bytes
    ) -> None:
        if len(self._rejected) >= self.max_pending:
            self.rejected_not_stored += 1  # bounded while the store is down; never acknowledged anyway
            return
        self._rejected.append(
            (endpoint, received_at, status, reason, message, path[:MAX_REJECTED_PATH], body[:MAX_REJECTED_BODY])
        )

    def discard_last_accepted(self, digest: int) -> None:
        """Forget the row added last (``--sync``: its write failed and it is answered 503, not 200)."""
        endpoint = self._accepted.pop()[0]
        self._added_count[endpoint] -= 1
        self._added_digest[endpoint] -= digest

    def _checkpoint(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            while not self._stop.acquire(timeout=CHECKPOINT_INTERVAL_S):  # acquired = close() asked to stop
                # A full disk or a lock: the loop's writes report it; try again later.
                with contextlib.suppress(sqlite3.Error):
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    @property
    def pending(self) -> int:
        return len(self._accepted) + len(self._rejected)

    def unavailable(self) -> str | None:
        """Why new rows cannot be promised a place now, or ``None`` when they can (the hot path)."""
        if self.error is None and len(self._accepted) < self.max_pending:
            return None
        if self.error is not None:
            return f"the store cannot write ({self.error})"
        return f"the store cannot keep up ({len(self._accepted)} rows waiting to be written)"

    def flush(self) -> bool:
        """Write everything appended so far; True when it is committed (or there was nothing).

        On failure everything is rolled back and kept for the next flush, and ``error`` says
        why. Safe from any thread (the lock guards the connection).
        """
        with self._lock:
            acc, rej = self._accepted, self._rejected
            if not (acc or rej):
                # With ``--sync`` a failed write leaves nothing behind (its row is answered 503 and
                # dropped), so nothing else would ever find out that the store writes again.
                return self.error is None or self._probe()
            if self._closed:
                raise RuntimeError("the store is closed; these rows would be lost")
            # Taken before the swap: a row added meanwhile (from another thread) is in this batch but
            # not in these totals, so "stored" can lag by a flush but never overstates.
            counts = dict(self._added_count)
            digests = {ep: d & DIGEST_MASK for ep, d in self._added_digest.items()}
            self._accepted, self._rejected = [], []
            db = self._db
            keep_acc, keep_rej, used = self._within_cap(acc, rej)
            try:
                db.execute("BEGIN")
                if keep_acc:
                    db.executemany(_INSERT_ACCEPTED, keep_acc)
                if keep_rej:
                    db.executemany(_INSERT_REJECTED, keep_rej)
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):  # else SQLite rolled back by itself
                        db.execute("ROLLBACK")
                # Keep the batch, oldest first, in front of what arrived meanwhile.
                self._accepted[:0] = acc
                self._rejected[:0] = rej
                self._failed(str(exc))
                return False
            self.memory_bytes += used
            self.bodies_dropped += len(acc) - len(keep_acc)
            self.rejected_not_stored += len(rej) - len(keep_rej)
            # Rows past the memory cap count here too: their count and digest are kept, their bodies not.
            self.stored_count, self.stored_digest = counts, digests
            self.written += len(acc)
            if self.error is not None:
                self._recovered(f"; the {len(acc) + len(rej)} rows kept meanwhile are stored")
            return True

    def _probe(self) -> bool:
        """While failing with nothing to write: take the write lock and let it go; True (and
        ``error`` cleared) when that worked. A full disk shows only on the next real write."""
        if self._closed:
            return False
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            self._failed(str(exc))
            return False
        self._recovered("")
        return True

    def _recovered(self, kept: str) -> None:
        down = time.monotonic() - (self.failing_since or time.monotonic())
        _say(f"the store writes again after {down:.1f} s{kept}")
        self.error = self.failing_since = None

    def _within_cap(
        self, acc: list[AcceptedRow], rej: list[RejectedRow]
    ) -> tuple[list[AcceptedRow], list[RejectedRow], int]:
        """The rows a ``:memory:`` store still has room for, and their bytes (all of them for a file)."""
        cap = self.max_memory_bytes
        if cap is None:
            return acc, rej, 0
        room = cap - self.memory_bytes
        used = 0
        keep_acc: list[AcceptedRow] = []
        for row in acc:
            size = len(row[6]) + ROW_OVERHEAD
            if used + size > room:
                if not self.bodies_dropped:
                    _say(
                        f"the :memory: store holds {cap} bytes of rows (--memory-store-cap): from now on it "
                        "counts and digests accepted bodies without keeping them (stats: bodies_dropped)"
                    )
                break
            used += size
            keep_acc.append(row)
        keep_rej: list[RejectedRow] = []
        if len(keep_acc) == len(acc):
            for rrow in rej:
                size = len(rrow[6]) + len(rrow[4]) + ROW_OVERHEAD
                if used + size > room:
                    break
                used += size
                keep_rej.append(rrow)
        return keep_acc, keep_rej, used

    def _failed(self, error: str) -> None:
        if self.error is None:
            self.failing_since = time.monotonic()
            if self.sync:
                # The row being committed is answered 503 and dropped (``discard_last_accepted``):
                # nothing acknowledged waits; only rejected rows (never acknowledged) are kept.
                kept = f"the request being committed is answered 503 and not kept, {len(self._rejected)} rejected rows"
            else:
                kept = f"{len(self._accepted)} acknowledged rows and {len(self._rejected)} rejected ones"
            _say(
                f"the store at {self.path} cannot write ({error}); {kept} are kept and retried, and tracking "
                "requests get 503 with Retry-After until it can"
            )
        elif error != self.error:
            _say(f"the store at {self.path} still cannot write, now: {error}")
        self.error = error

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Flush (a failing write is kept for later), then run a read query (for the admin API and tests)."""
        self.flush()
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def reset(self) -> None:
        """Forget every row; raises ``sqlite3.Error`` (and keeps everything) when the store cannot write."""
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN")
                db.execute("DELETE FROM accepted")
                db.execute("DELETE FROM rejected")
                db.execute("COMMIT")
            except sqlite3.Error:
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                raise
            self._accepted, self._rejected = [], []
            self.written = 0
            self.stored_count = dict.fromkeys(ENDPOINT_NAMES, 0)
            self.stored_digest = dict.fromkeys(ENDPOINT_NAMES, 0)
            self._added_count = dict.fromkeys(ENDPOINT_NAMES, 0)
            self._added_digest = dict.fromkeys(ENDPOINT_NAMES, 0)
            self.rejected_not_stored = 0
            self.memory_bytes = self.bodies_dropped = 0
            # The DELETEs committed: the store writes (``--sync`` has no pending row whose flush would say so).
            self.error = self.failing_since = None

    def close(self) -> None:
        """Flush (retrying a failing write for up to ``CLOSE_RETRY_S``) and close; idempotent.

        Acknowledged rows still unwritten then are logged and counted in ``lost``."""
        if self._closed:
            return
        self._stop.release()
        if self._checkpointer is not None:
            self._checkpointer.join()
        deadline = time.monotonic() + CLOSE_RETRY_S
        # ``pending`` first: with nothing to write, a lock still held is no reason to wait.
        while self.pending and not self.flush() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.lost = lost = len(self._accepted)
        with self._lock:
            self._closed = True
            self._db.close()  # the last connection to close checkpoints and removes the WAL
        if lost:
            _say(f"{lost} acknowledged rows could not be written before stopping ({self.error}); they are lost")
