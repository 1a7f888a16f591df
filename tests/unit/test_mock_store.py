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
    store.add_accepted("events", 1.0, "u1", "CL-1", 1, "src", b'{"a":1}')
    store.add_rejected("events", 1.0, 400, "invalid_body", "x: bad", "/webhook/src", b"z" * (MAX_REJECTED_BODY + 9))
    assert store.pending == 2
    assert store.query("SELECT uid, source, body FROM accepted") == [("u1", "src", b'{"a":1}')]
    assert store.pending == 0 and store.written == 1
    store.add_accepted("identify", 2.0, "u2", "CL-2", 2, None, b"{}")
    store.close()
    store.close()  # idempotent
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM accepted").fetchone() == (2,)
        [(reason, size)] = db.execute("SELECT reason, length(body) FROM rejected").fetchall()
    assert (reason, size) == ("invalid_body", MAX_REJECTED_BODY)


def test_reset_empties_the_store() -> None:
    store = Store()
    store.add_accepted("events", 1.0, "u", "s", 1, "x", b"{}")
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
