"""Completion verdicts: a target that stalls, drops or hangs fails the run; the reason is one line."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from simulator.loadtest.shape import LoadProfile
from simulator.report.slo import Plan, Verdict, evaluate, junit_xml, verdict_word
from simulator.report.stats import RunStats
from simulator.report.summary import stall, unfinished, verdict_line
from simulator.scenario import ErrorRateSLO, LatencySLO, LoadConfig, SLOConfig, Stage


def _stats(n: int = 10) -> RunStats:
    s = RunStats()
    for i in range(n):
        s.record(endpoint="events", step="event:X", latency=0.01, service=0.01, outcome="ok", at=1000.0 + i)
        s.waited("events", 0.01)
    return s


def test_a_request_unanswered_at_the_stop_fails_completion() -> None:
    s = _stats()
    s.interrupt("events", 123, 14.2)
    s.interrupt("identify", 456, 0.003)
    verdicts = evaluate(SLOConfig(), stats=s, duration_s=20, reconciliation=None)
    wait = next(v for v in verdicts if "unanswered" in v.name)
    assert not wait.passed and wait.actual == 14.2 and wait.unit == "s"
    cut = unfinished(s)
    assert cut["count"] == 2 and cut["endpoints"]["events"]["max_elapsed_s"] == 14.2
    result, reason = verdict_line(verdicts, None)
    assert result == "FAILED" and reason == "no request unanswered for more than 5 s: actual 14.2 s"


def test_a_late_answer_fails_completion_and_a_quick_run_passes() -> None:
    s = _stats()
    assert all(v.passed for v in evaluate(SLOConfig(), stats=s, duration_s=20, reconciliation=None))
    s.waited("identify", 30.0)  # a held request the client timed out on
    assert not all(v.passed for v in evaluate(SLOConfig(), stats=s, duration_s=20, reconciliation=None))
    assert all(v.passed for v in evaluate(SLOConfig(max_wait=60), stats=s, duration_s=20, reconciliation=None))
    assert all(v.passed for v in evaluate(SLOConfig(completion=False), stats=s, duration_s=20, reconciliation=None))


def test_open_model_dropped_and_achieved_against_the_plan() -> None:
    s = _stats()
    for i in range(57):
        s.arrive(1000.0 + i / 3, dropped=i >= 10)
    verdicts = evaluate(SLOConfig(), stats=s, duration_s=20, reconciliation=None, plan=Plan(arrivals=60.0))
    by = {v.name: v for v in verdicts}
    rate = by["achieved rate >= 90% of the planned rate"]
    assert not rate.passed and rate.actual == round(10 / 60 * 100, 1) and rate.unit == "%"
    dropped = by["dropped arrivals <= 1% of arrivals"]
    assert not dropped.passed and dropped.actual == round(47 / 57 * 100, 2)


def test_planned_arrivals_follow_the_stages() -> None:
    load = LoadConfig(model="open", rate=2, stages=(Stage(duration=10, rate=2), Stage(duration=10, rate=20)))
    p = LoadProfile.of(load)
    assert p.planned_arrivals(0, 10) == 20
    assert p.planned_arrivals(5, 15) == 10 + 100
    assert p.planned_arrivals(0, 25) == 20 + 200 + 100  # past the last stage its rate goes on


def test_the_stall_is_on_the_timeline() -> None:
    s = _stats(2)
    for t in range(1002, 1012):
        s.gauge("inflight", float(t), 5)
    assert stall(s)["seconds"] == 10  # five slices of two seconds: requests waited, none finished


def test_interrupted_is_not_a_pass_and_says_the_planned_time() -> None:
    verdicts = [Verdict("x", 1.0, 0.5, True, "ms")]
    result, reason = verdict_line(verdicts, None, interrupted=True, duration_s=10, planned_s=60)
    assert result == "INTERRUPTED" and reason.startswith("interrupted after 10 s of 60 s planned")
    junit = junit_xml(verdicts, suite="ecommerce", duration_s=10, interrupted="INTERRUPTED after 10 s of 60 s planned")
    suite = ET.fromstring(junit).find("testsuite")
    assert suite is not None and suite.get("errors") == "1"
    failed, _ = verdict_line([Verdict("x", 1.0, 2.0, False, "ms")], None, interrupted=True, duration_s=10, planned_s=60)
    assert failed == "FAILED"


def test_an_interruption_before_any_answer_measured_nothing_and_failed_nothing() -> None:
    """Ctrl-C as the users spawned, no answer yet. Before: FAILED, "error rate of total <= 0%: actual
    no requests to measure", exit 1, for a target that had done nothing wrong."""
    verdicts = [Verdict("error rate of total <= 0%", 0.0, None, False, "%"), Verdict("x", 1.0, 0.5, True, "ms")]
    result, _ = verdict_line(verdicts, None, interrupted=True, duration_s=0, planned_s=60)
    assert result == "INTERRUPTED"
    assert verdict_line(verdicts, None)[0] == "FAILED"  # a run that ran its time and measured nothing
    junit = junit_xml(verdicts, suite="smoke", duration_s=0, interrupted="INTERRUPTED after 0 s of 60 s planned")
    suite = ET.fromstring(junit).find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    assert suite.get("skipped") == "1"  # a CI system counts the case as skipped, not passed
    assert verdict_word(verdicts[0], {"interrupted": True}) == "not measured"
    assert verdict_word(verdicts[0], {"interrupted": False}) == "**FAIL**"


def test_stats_ship_unfinished_and_waits() -> None:
    a, b = _stats(), _stats()
    a.interrupt("events", 1, 3.5)
    b.waited("events", 7.0)
    b.gauge("cpu", 1000.0, 40.0)
    a.gauge("cpu", 1000.0, 90.0)
    merged = RunStats.from_dict(a.to_dict())
    merged.merge(RunStats.from_dict(b.to_dict()))
    assert merged.unfinished == {"events": [3.5]} and merged.longest_wait["events"] == 7.0
    assert merged.timeline[1000]["cpu"] == 90.0  # the busiest process, not the sum


def test_the_mocks_warnings_are_named_in_words() -> None:
    from simulator.report.outcome import mock_warnings

    said = mock_warnings({"mock": {"warnings": {"unknown_session": 35, "added_at_stale": 0, "new_kind": 2}}})
    assert said == [
        "35 identify or event requests for a session the mock never saw start (no externalIds with that sid)",
        "2 new kind",
    ]


def test_a_reconciliation_difference_fails_the_run_and_shows_as_a_failed_slo_everywhere() -> None:
    """Every scenario without `reconciliation` in [slo] (ecommerce, bad-clients, flash-sale...) used
    to FAIL on a difference while junit.xml and the SLO table said every SLO held; and `false` did not
    turn it off."""
    lost = {"ok": False, "differences": ["events: the harness got 31 200s, the mock stored 25 (lost: 6)"]}
    verdicts = evaluate(SLOConfig(), stats=_stats(), duration_s=20, reconciliation=lost)
    failed = [v for v in verdicts if not v.passed]
    assert [v.name for v in failed] == ["reconciliation: nothing lost or duplicated"]
    assert verdict_line(verdicts, lost) == ("FAILED", "reconciliation: " + lost["differences"][0])
    suite = ET.fromstring(junit_xml(verdicts, suite="s", duration_s=20)).find("testsuite")
    assert suite is not None and suite.get("failures") == "1", ET.tostring(suite) if suite is not None else ""

    off = evaluate(SLOConfig(reconciliation=False), stats=_stats(), duration_s=20, reconciliation=lost)
    assert all(v.passed for v in off) and verdict_line(off, lost)[0] == "PASSED"
    # A real target cannot be read back: not judged unless asked for, and then it fails.
    assert not any(
        "reconciliation" in v.name for v in evaluate(SLOConfig(), stats=_stats(), duration_s=20, reconciliation=None)
    )
    forced = evaluate(SLOConfig(reconciliation=True), stats=_stats(), duration_s=20, reconciliation=None)
    assert verdict_line(forced, None)[0] == "FAILED"


def test_a_measurement_just_past_its_bound_fails_however_the_report_rounds_it() -> None:
    # Each measurement is past its bound by less than the report's rounding: shown rounded, it would
    # read as the bound itself, and the SLO passed.
    s = _stats()
    s.waited("events", 5.0004)  # max_wait 5 s; shown to the ms
    for i in range(30_000):
        s.arrive(1000.0 + i / 1000, dropped=i == 0)  # one arrival of 30,000 dropped: 0.0033%
    slo = SLOConfig(min_rate=0.5, max_dropped_share=0.0, min_rate_share=0.9)
    plan = Plan(arrivals=(30_000 - 1) / 0.8996)  # 89.96% of the plan handed to users
    # 10 requests over 20.0008 s: 0.49998/s, shown to 0.001 as 0.5.
    verdicts = {v.name: v for v in evaluate(slo, stats=s, duration_s=20.0008, reconciliation=None, plan=plan)}
    for name in (
        "no request unanswered for more than 5 s",
        "dropped arrivals <= 0% of arrivals",
        "achieved rate >= 90% of the planned rate",
        "achieved rate >= 0.5 requests/s",
    ):
        v = verdicts[name]
        assert not v.passed, v
        assert v.show(v.actual) != v.show(v.threshold), v  # the report does not show the bound as the actual
    for bound, seconds in ((10.0, 0.0100004), (250.0, 0.2500004)):  # past 6 digits too (250.0004 ms)
        latency = SLOConfig(latency=(LatencySLO(endpoint="events", percentile=50, max_ms=bound),), completion=False)
        s = RunStats()
        s.record(endpoint="events", step="event:X", latency=seconds, service=0.01, outcome="ok", at=1000.0)
        (v,) = (v for v in evaluate(latency, stats=s, duration_s=20, reconciliation=None) if v.unit == "ms")
        assert not v.passed and v.show(v.actual) != v.show(v.threshold), v
    # An error rate just past its bound: 100,001 failures of 10,000,000 against 1%.
    s = RunStats()
    s.endpoints["events"] = s.total
    s.total.count, s.total.failures = 10_000_000, 100_001
    errors = SLOConfig(error_rate=(ErrorRateSLO(endpoint="total", max=0.01),), completion=False)
    (v,) = evaluate(errors, stats=s, duration_s=20, reconciliation=None)
    assert not v.passed and v.show(v.actual) != v.show(v.threshold), v
