"""The mock's store and digest: batches reach SQLite on flush and on close; the digest is order-free."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from simulator.mock import DIGEST_MASK, combine, digest, digest_all
from simulator.mock.store import MAX_REJECTED_BODY, Store


def test_rows_are_written_on_flush_and_on_close(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = Store(str(path))
    store.add_accepted("events", 1.0, "u1", "CL-1", 1, "src", b'{"a":1}', digest(b'{"a":1}'))
    store.add_rejected("events", 1.0, 400, "invalid_body", "x: bad", "/webhook/src", b"z" * (MAX_REJECTED_BODY + 9))
    assert store.pending == 2
    assert store.query("SELECT uid, source, body FROM accepted") == [("u1", "src", b'{"a":1}')]
    assert store.pending == 0 and store.written == 1
    store.add_accepted("identify", 2.0, "u2", "CL-2", 2, None, b"{}", digest(b"{}"))
    store.close()
    store.close()  # idempotent
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM accepted").fetchone() == (2,)
        [(reason, size)] = db.execute("SELECT reason, length(body) FROM rejected").fetchall()
    assert (reason, size) == ("invalid_body", MAX_REJECTED_BODY)


def test_a_failed_flush_rolls_back_keeps_its_batch_and_retries(tmp_path: Path) -> None:
    """Another connection holds the write lock: the flush fails at once (no busy wait), keeps its rows,
    counts nothing as stored, and the next flush after the lock stores them all exactly once."""
    import time

    path = tmp_path / "s.sqlite3"
    store = Store(str(path))
    bodies = [b'{"n":%d}' % n for n in range(5)]
    for body in bodies[:3]:
        store.add_accepted("events", 1.0, "u", "s", 1, "src", body, digest(body))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    began = time.monotonic()
    assert store.flush() is False
    assert time.monotonic() - began < 1.0  # the old store sat in a 5 s busy wait here
    assert store.error is not None and "locked" in store.error
    assert "cannot write" in (store.unavailable() or "")
    assert store.stored_count["events"] == 0 and store.pending == 3
    for body in bodies[3:]:
        store.add_accepted("events", 2.0, "u", "s", 1, "src", body, digest(body))
    assert store.flush() is False  # the old store: "cannot start a transaction within a transaction"
    other.execute("ROLLBACK")
    assert store.flush() is True
    assert store.error is None and store.unavailable() is None and store.pending == 0
    assert store.stored_count["events"] == 5 and store.stored_digest["events"] == digest_all(bodies)
    assert sorted(r[0] for r in store.query("SELECT body FROM accepted")) == sorted(bodies)
    store.close()
    other.close()


def test_a_long_backlog_makes_the_store_unavailable() -> None:
    store = Store(max_pending=3)
    for _ in range(3):
        store.add_accepted("events", 1.0, "u", "s", 1, "src", b"{}", digest(b"{}"))
    assert "cannot keep up" in (store.unavailable() or "")
    assert store.flush() and store.unavailable() is None
    store.close()


def test_reset_empties_the_store() -> None:
    store = Store()
    store.add_accepted("events", 1.0, "u", "s", 1, "x", b"{}", digest(b"{}"))
    store.flush()
    store.reset()
    assert store.query("SELECT COUNT(*) FROM accepted") == [(0,)]
    store.close()


def test_digest_is_blake2b_8_bytes_little_endian() -> None:
    import hashlib

    assert digest(b"abc") == int.from_bytes(hashlib.blake2b(b"abc", digest_size=8).digest(), "little")
    assert digest(b"abc") != digest(b"abd")


@given(st.lists(st.binary(max_size=50), max_size=30), st.randoms(use_true_random=False))
def test_digest_of_a_set_ignores_order(bodies: list[bytes], rnd: object) -> None:
    shuffled = list(bodies)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert digest_all(bodies) == digest_all(shuffled)
    total = 0
    for b in shuffled:
        total = combine(total, b)
    assert total == digest_all(bodies) <= DIGEST_MASK
    if bodies:
        assert digest_all(bodies[1:]) != digest_all(bodies) or digest(bodies[0]) == 0


def test_session_memory_is_bounded(monkeypatch: object) -> None:
    from simulator.mock import state
    from tests.integration import mock_support as ms

    monkeypatch.setattr(state, "MAX_SESSIONS", 100)  # type: ignore[attr-defined]
    st = state.CollectorState()
    for n in range(250):
        st.external_ids({**ms.session_start(1), "sid": ms.sid(1, n)})
    assert len(st.sessions) <= 100
    assert st.stats()["sessions"] == 250
    assert ms.sid(1, 249) in st.sessions and ms.sid(1, 0) not in st.sessions
