"""Bounded memory (issue #15, defect 6): a ``:memory:`` store has a cap past which it keeps counts
and digests but not bodies, and profiles are forgotten oldest first past ``max_profiles``.

Before: the ``:memory:`` store grew about 1 KB per request for ever (7.6 GB/h at 2k req/s) and
every device's profile (about 2.5 KB) was kept for the life of the process.
"""

from __future__ import annotations

import gc
import tracemalloc

import orjson
import pytest

from simulator.mock import MockServer, digest_all
from simulator.mock.state import CollectorState
from tests.integration import mock_support as ms

pytestmark = pytest.mark.integration


def test_a_memory_store_past_its_cap_keeps_counts_and_digests_not_bodies() -> None:
    cap = 200_000
    with MockServer(store=":memory:", memory_store_cap=cap) as mock:
        conn = ms.connect(mock.url)
        sent = [orjson.dumps(ms.event(1, value=i)) for i in range(1000)]  # ~700 KB of bodies
        for body in sent:
            assert ms.post(conn, "/webhook/cap", body)[0] == 200
        kept = mock.app.store.query("SELECT COUNT(*) FROM accepted")[0][0]  # type: ignore[union-attr]  (flushes)
        stats = mock.stats()
    assert stats["stored"]["events"] == {"count": 1000, "digest": digest_all(sent)}
    assert stats["bodies_dropped"] == 1000 - kept > 0
    assert stats["store"]["memory_bytes"] <= cap == stats["store"]["memory_cap_bytes"]


def test_a_file_store_has_no_memory_cap(tmp_path: object) -> None:
    with MockServer(store=f"{tmp_path}/m.sqlite3", memory_store_cap=1000) as mock:
        conn = ms.connect(mock.url)
        for i in range(50):
            assert ms.post(conn, "/webhook/cap", ms.event(1, value=i))[0] == 200
        stats = mock.stats()
    assert stats["bodies_dropped"] == 0 and stats["store"]["memory_cap_bytes"] is None


def _per_device(n: int, *, identified: bool) -> float:
    st = CollectorState(max_profiles=10 * n)
    bodies = [ms.session_start(d % 9000 + 1, install=d) for d in range(n)]
    ids = [ms.identify(d % 9000 + 1, install=d, who=d) for d in range(n)] if identified else []
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for b in bodies:
            st.external_ids(b)
        for b in ids:
            st.identify(b, 1_764_000_000.0)
        return (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()


def test_profile_memory_per_device_is_measured_and_bounded() -> None:
    anonymous, identified = _per_device(5000, identified=False), _per_device(5000, identified=True)
    print(f"profile memory per device: {anonymous:.0f} B anonymous, {identified:.0f} B identified")
    assert anonymous < 2500 and identified < 4000  # the figures MAX_PROFILES and the deploy limits rest on
    st = CollectorState(max_profiles=100)
    for d in range(250):
        st.identify(ms.identify(d + 1, who=d + 1), 1_764_000_000.0)
    assert len(st.profiles) <= 100 and len(st.by_uid) <= 100 and len(st.by_identity) <= 200
    assert st.stats()["profiles_forgotten"] >= 150
    assert st.profile(ms.uid(250)) is not None and st.profile(ms.uid(1)) is None
