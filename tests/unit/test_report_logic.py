"""The harness's bookkeeping: stats shipping, load profiles, reconciliation, SLO verdicts, redaction."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import orjson
import pytest

from simulator.digest import DIGEST_MASK
from simulator.loadtest.reconcile import reconcile
from simulator.mock import digest
from simulator.report.slo import evaluate, junit_xml
from simulator.report.stats import RunStats
from simulator.scenario import ErrorRateSLO, LatencySLO, SLOConfig


def stats_with(n: int, *, latency: float = 0.01, failures: int = 0, endpoint: str = "events") -> RunStats:
    s = RunStats()
    for i in range(n):
        outcome = "failure" if i < failures else "ok"
        s.record(
            endpoint=endpoint,
            step=f"event:{i % 3}",
            latency=latency,
            service=latency / 2,
            outcome=outcome,
            error="status 503" if outcome == "failure" else None,
            example="status 503: b''",
        )
        if outcome == "ok":
            s.accept(endpoint, digest(f"body {i}".encode()))
    return s


def test_worker_shipments_add_up_to_one_process_stats() -> None:
    """What workers ship every few seconds (take, to_dict) merges into exactly what one process would hold."""
    whole = stats_with(300, failures=7)
    master = RunStats()
    worker = stats_with(300, failures=7)
    for _ in range(3):  # three reports; only the first carries data, the others are empty
        master.merge(RunStats.from_dict(worker.take().to_dict()))
    assert master.to_dict() == whole.to_dict()
    assert worker.total.count == 0  # take() leaves the worker empty


def test_reconcile_finds_loss_duplicates_and_altered_bodies() -> None:
    s = stats_with(10)
    good = {"accepted": {"events": 10}, "digest": {"events": s.digests["events"]}}
    assert reconcile(s, good)["ok"]
    lost = {"accepted": {"events": 9}, "digest": {"events": 0}}
    assert "lost: 1" in reconcile(s, lost)["differences"][0]
    altered = {"accepted": {"events": 10}, "digest": {"events": (s.digests["events"] + 1) & DIGEST_MASK}}
    assert "differ" in reconcile(s, altered)["differences"][0]


def test_reconcile_counts_only_what_this_run_added_to_a_shared_mock() -> None:
    s = stats_with(4)
    earlier = 12345
    before = {"accepted": {"events": 50}, "digest": {"events": earlier}}
    after = {"accepted": {"events": 54}, "digest": {"events": (earlier + s.digests["events"]) & DIGEST_MASK}}
    assert reconcile(s, after, before)["ok"]


def test_slo_verdicts_and_junit() -> None:
    s = stats_with(1000, latency=0.123, failures=2)
    slo = SLOConfig(
        latency=(LatencySLO(percentile=99, max_ms=125), LatencySLO(percentile=50, max_ms=100)),
        error_rate=(ErrorRateSLO(max=0.001),),
        min_rate=10,
        reconciliation=True,
        completion=False,
    )
    verdicts = evaluate(slo, stats=s, duration_s=10, reconciliation={"ok": True})
    assert [v.passed for v in verdicts] == [True, False, False, True, True]
    assert verdicts[0].actual == pytest.approx(123, rel=0.01)  # not Locust's 120
    assert verdicts[2].actual == 0.2 and verdicts[2].unit == "%"  # percent of requests
    suite = ET.fromstring(junit_xml(verdicts, suite="smoke", duration_s=10)).find("testsuite")
    assert suite is not None and suite.get("tests") == "5" and suite.get("failures") == "2"
    failed = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    # thresholds and actuals carry their units
    assert failed[1].find("failure").get("message") == "actual 0.2% against threshold 0.1%"  # type: ignore[union-attr]
    assert failed[0].find("failure").get("message").endswith("against threshold 100 ms")  # type: ignore[union-attr]


def test_an_slo_on_an_endpoint_with_no_requests_fails() -> None:
    verdicts = evaluate(
        SLOConfig(
            latency=(LatencySLO(percentile=95, max_ms=100, endpoint="identify"),),
            error_rate=(ErrorRateSLO(max=0.01, endpoint="identify"),),
            completion=False,
        ),
        stats=stats_with(5),
        duration_s=1,
        reconciliation=None,
    )
    assert [(v.passed, v.actual) for v in verdicts] == [(False, None), (False, None)]


def test_requests_cut_off_at_stop_may_have_been_stored() -> None:
    s = stats_with(5)
    cut = [digest(b"cut 1"), digest(b"cut 2"), digest(b"cut 3")]
    for d in cut:
        s.interrupt("events", d)
    one_stored = {"accepted": {"events": 6}, "digest": {"events": (s.digests["events"] + cut[1]) & DIGEST_MASK}}
    assert reconcile(s, one_stored)["ok"]
    none_stored = {"accepted": {"events": 5}, "digest": {"events": s.digests["events"]}}
    assert reconcile(s, none_stored)["ok"]
    # one extra body that is none of the cut-off ones: a duplicate or a stranger
    stranger = {"accepted": {"events": 6}, "digest": {"events": (s.digests["events"] + 7) & DIGEST_MASK}}
    assert not reconcile(s, stranger)["ok"]
    too_many = {"accepted": {"events": 9}, "digest": {"events": 0}}
    assert "beyond 3 cut off" in reconcile(s, too_many)["differences"][0]


def test_timeline_slices_merge_and_coarsen_without_losing_requests() -> None:
    from simulator.report import stats as st

    worker_a, worker_b = RunStats(), RunStats()
    for i in range(600):
        w = worker_a if i % 2 else worker_b
        w.record(
            endpoint="events",
            step="event:x",
            latency=0.01 * (1 + i % 7),
            service=0.005,
            outcome="failure" if i % 50 == 0 else "ok",
            at=1_000_000 + i,
        )  # one request a second
    master = RunStats()
    master.merge(RunStats.from_dict(worker_a.take().to_dict()))
    master.merge(RunStats.from_dict(worker_b.take().to_dict()))
    assert sum(p["total"][0] for p in master.timeline.values()) == 600
    assert sum(p["events"][1] for p in master.timeline.values()) == 12
    assert len(master.timeline) == 300 and master.timeline_step == st.TIMELINE_STEP
    old_max = st.MAX_SLICES
    st.MAX_SLICES = 100  # a long run: the master halves resolution until it fits
    try:
        master.merge(RunStats())
    finally:
        st.MAX_SLICES = old_max
    assert len(master.timeline) <= 100 and master.timeline_step == 8
    assert sum(p["total"][0] for p in master.timeline.values()) == 600


def test_expected_merges_follow_shared_emails_and_phones() -> None:
    from simulator.loadtest.reconcile import expected_merges

    assert expected_merges([("u1", "a@example.com", None), ("u2", "b@example.com", None)]) == 0
    reinstall = [("u1", "a@example.com", "+15555550101"), ("u2", "a@example.com", "+15555550101")]
    assert expected_merges(reinstall) == 1
    chain = [("u1", "a@example.com", None), ("u2", "a@example.com", "+15555550102"), ("u3", None, "+15555550102")]
    assert expected_merges(chain) == 2
    assert expected_merges(chain + chain) == 2  # identifying again merges nothing new
    assert expected_merges(list(reversed(chain))) == 2  # order does not matter


def test_merges_are_reconciled_only_against_a_fresh_mock() -> None:
    s = stats_with(0)
    s.identities = {("u1", "a@example.com", None), ("u2", "a@example.com", None)}
    fresh = {"accepted": {}, "digest": {}, "merges": 1}
    assert reconcile(s, fresh)["ok"]
    wrong = reconcile(s, {**fresh, "merges": 0})
    assert not wrong["ok"] and "imply 1 profile merges, the mock made 0" in wrong["differences"][0]
    shared = reconcile(s, {**fresh, "merges": 7}, {"profiles": 3, "merges": 0})
    assert shared["ok"] and not shared["merges"]["checked"]


def test_identities_are_kept_once_however_often_a_device_identifies() -> None:
    """A soak re-identifies the same people for hours: the stats (and stats.json) must not grow with it."""
    worker = RunStats()
    for _ in range(1000):
        worker.identities.add(("u1", "a@example.com", None))
    worker.identities.add(("u2", "a@example.com", "+15555550101"))
    master = RunStats()
    for _ in range(3):  # three periodic reports carrying the same identities
        master.merge(RunStats.from_dict(orjson.loads(orjson.dumps(worker.to_dict()))))
    assert master.identities == {("u1", "a@example.com", None), ("u2", "a@example.com", "+15555550101")}
    assert reconcile(master, {"accepted": {}, "digest": {}, "merges": 1})["ok"]


def test_queue_depth_is_shipped_once_per_slice_and_adds_across_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    from simulator.report import stats as st

    clock = [1_000_000.0]
    monkeypatch.setattr(st.time, "time", lambda: clock[0])
    master = RunStats()
    for worker_depth in (5, 7):  # two workers, each with a queue that peaks within one slice
        w = RunStats()
        w.queue_depth(clock[0], worker_depth - 2)
        master.merge(RunStats.from_dict(w.take().to_dict()))  # mid-slice report: the depth stays behind
        w.queue_depth(clock[0] + 1, worker_depth)
        clock[0] += st.TIMELINE_STEP  # the slice is over
        master.merge(RunStats.from_dict(w.take().to_dict()))
        clock[0] -= st.TIMELINE_STEP
    assert master.timeline[1_000_000]["queued"] == 12  # 5 + 7, not 3 + 5 + 5 + 7
    master._coarsen(st.TIMELINE_STEP * 4)  # a long run's coarser slices keep the peak, not a sum over time
    assert master.timeline[1_000_000 // 8 * 8]["queued"] == 12


def _stored(s: RunStats, **counts: int) -> dict[str, Any]:
    return {
        ep: {"count": n, "digest": s.digests.get(ep, 0) if n == s.accepted.get(ep, 0) else 0}
        for ep, n in counts.items()
    }


def test_reconcile_counts_stored_rows_not_acknowledgement_counters() -> None:
    """Issue #14 item 2: a locked store kept answering 200 while storing nothing. The counters
    agreed with the harness, the committed rows did not: that is a loss."""
    s = stats_with(10)
    counters = {"accepted": {"events": 10}, "digest": {"events": s.digests["events"]}}
    mock = {
        **counters,
        "stored": {
            "externalIds": {"count": 0, "digest": 0},
            "identify": {"count": 0, "digest": 0},
            "events": {"count": 4, "digest": 0},
        },
    }
    rec = reconcile(s, mock)
    assert not rec["ok"] and rec["source"] == "stored rows"
    assert "lost: 6" in rec["differences"][0]
    kept = {
        **counters,
        "stored": {
            "externalIds": {"count": 0, "digest": 0},
            "identify": {"count": 0, "digest": 0},
            "events": {"count": 10, "digest": s.digests["events"]},
        },
    }
    assert reconcile(s, kept)["ok"]


def test_reconcile_with_an_older_mock_checks_the_rows_it_wrote() -> None:
    """An older mock's stats say only how many rows it wrote in all: 200s beyond them were lost."""
    s = stats_with(10)
    counters = {"accepted": {"events": 10}, "digest": {"events": s.digests["events"]}}
    rec = reconcile(s, {**counters, "stored": {"written": 4, "pending": 0}})
    assert not rec["ok"] and "lost: 6" in rec["differences"][0], rec
    assert reconcile(s, {**counters, "stored": {"written": 10, "pending": 0}})["ok"]
