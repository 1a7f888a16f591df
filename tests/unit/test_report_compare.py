"""``loadsim compare``: thresholds, which figures gate, exit codes 0/1/2."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from simulator.report.compare import compare, format_comparison, parse_regression
from tests.unit.test_report_summary import cli, write_run


def row(
    count: int = 10_000,
    failures: int = 0,
    p50: float = 1.0,
    p95: float = 5.0,
    p99: float = 10.0,
    max_ms: float = 50.0,
    rps: float = 100.0,
) -> dict[str, Any]:
    return {
        "count": count,
        "failures": failures,
        "expected_rejections": 0,
        "rps": rps,
        "p50_ms": p50,
        "p90_ms": p95,
        "p95_ms": p95,
        "p99_ms": p99,
        "p999_ms": p99,
        "max_ms": max_ms,
    }


def summary(**total: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "scenario": "s",
        "load_model": "closed",
        "workers": 1,
        "timing": {"started": 0.0, "ended": 1.0, "duration_s": 1.0},
        "slo": [],
        "total": row(**total),
        "endpoints": {"events": row(**total)},
        "steps": {},
    }


@pytest.mark.parametrize(("text", "value"), [("10%", 0.10), ("0.1", 0.1), (" 2.5% ", 0.025), ("0", 0.0), ("150%", 1.5)])
def test_regression_threshold_reads_percent_or_share(text: str, value: float) -> None:
    assert parse_regression(text) == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("10", "ambiguous"), ("ten", "not a share"), ("-5%", "0 or more"), ("nan", "0 or more"), ("inf", "finite share")],
)
def test_regression_threshold_refuses_what_it_cannot_read(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_regression(text)


@pytest.mark.parametrize(("p95", "regressed"), [(5.45, False), (5.55, True), (4.0, False)])
def test_latency_regresses_only_beyond_the_threshold(p95: float, regressed: bool) -> None:
    result = compare(summary(), summary(p95=p95), max_regression=0.10, min_delta_ms=0.1)
    assert bool(result.regressions) == regressed
    if regressed:
        assert {(c.row, c.figure) for c in result.regressions} == {("total", "p95 ms"), ("events", "p95 ms")}


def test_max_and_rate_are_shown_not_gated() -> None:
    result = compare(summary(), summary(max_ms=500.0, rps=10.0), max_regression=0.10)
    assert result.regressions == []
    table = format_comparison(result)
    assert "+900.0%" in table and "-90.0%" in table and "no regression beyond 10%" in table


def test_a_percentile_with_few_requests_above_it_is_not_gated() -> None:
    """p99 of 300 requests is the third-largest sample: noise, so it is shown but does not fail the gate."""
    result = compare(summary(count=300), summary(count=300, p99=30.0), max_regression=0.10)
    assert result.regressions == []
    assert "not gated: under 50 requests above p99" in format_comparison(result)
    assert compare(summary(count=5000), summary(count=5000, p99=30.0), max_regression=0.10).regressions


def test_one_transient_error_is_no_regression_but_many_are() -> None:
    assert compare(summary(), summary(failures=1), max_regression=0.10).regressions == []
    worse = compare(summary(failures=10), summary(failures=30), max_regression=0.10).regressions
    assert {(c.row, c.figure) for c in worse} == {("total", "error rate"), ("events", "error rate")}
    # the same growth inside the threshold and the slack passes
    assert compare(summary(failures=100), summary(failures=115), max_regression=0.10).regressions == []


def test_rows_only_in_one_run_are_listed_not_gated() -> None:
    new = summary()
    new["steps"]["event:Purchase"] = row(p50=99.0)
    result = compare(summary(), new, max_regression=0.0)
    assert result.regressions == []
    assert "only in new" in format_comparison(result)


def test_different_scenarios_are_compared_with_a_warning() -> None:
    other = summary()
    other["scenario"] = "t"
    assert "scenarios differ" in format_comparison(compare(summary(), other, max_regression=0.1))


# --- the command --------------------------------------------------------------------------------


def test_compare_exits_1_on_a_regression_and_0_within_the_threshold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_run(tmp_path / "base", seed=1)
    write_run(tmp_path / "slow", seed=1, slow=1.3)  # the same requests, 30% slower
    base, slow = str(tmp_path / "base"), str(tmp_path / "slow")
    code, out = cli(capsys, "compare", base, slow)
    assert code == 1, out
    assert "REGRESSION" in out and "regression(s) beyond 10%" in out
    code, out = cli(capsys, "compare", base, slow, "--max-regression", "0.35")
    assert code == 0, out
    assert "no regression beyond 35%" in out
    code, out = cli(capsys, "compare", base, base, "--max-regression", "0%")
    assert code == 0, out


def test_compare_takes_summary_files_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(tmp_path)
    code, _ = cli(capsys, "compare", str(tmp_path / "summary.json"), str(tmp_path))
    assert code == 0


def test_compare_exits_2_on_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(tmp_path / "run")
    run = str(tmp_path / "run")
    code, out = cli(capsys, "compare", run, str(tmp_path / "missing"))
    # the message names the missing path itself, not "no missing there"
    assert code == 2 and f"{tmp_path / 'missing'} does not exist" in out, out
    code, out = cli(capsys, "compare", run, run, "--max-regression", "10")
    assert code == 2 and "ambiguous" in out
    broken = copy.deepcopy(orjson.loads((tmp_path / "run" / "summary.json").read_bytes()))
    del broken["total"]
    (tmp_path / "broken.json").write_bytes(orjson.dumps(broken))
    code, out = cli(capsys, "compare", run, str(tmp_path / "broken.json"))
    assert code == 2 and "lacks total" in out


def test_sub_millisecond_noise_is_no_regression() -> None:
    """Issue #14 item 6: two runs of one smoke configuration failed with "total p50 +10.5%
    (0.600 -> 0.663 ms)" and "p99 1.819 -> 2.174 ms". Beyond 10% but under the 1 ms floor."""
    base = summary(count=1000, p50=0.600, p95=1.2, p99=1.819)
    new = summary(count=1000, p50=0.663, p95=1.4, p99=2.174)
    result = compare(base, new, max_regression=0.10)
    assert result.regressions == []
    assert "within noise" in format_comparison(result)
    # twice as slow is a regression whatever the floor
    slow = summary(count=1000, p50=1.2, p95=2.4, p99=3.7)
    assert compare(base, slow, max_regression=0.10).regressions


def test_percentiles_show_their_confidence_and_overlap_is_noise() -> None:
    from simulator.report.histogram import Histogram
    from simulator.report.stats import RunStats, Series

    def stats(values: list[float]) -> RunStats:
        s = RunStats()
        s.total = Series(latency=Histogram.of(values))
        return s

    import random

    rng = random.Random(3)
    a = [rng.lognormvariate(-4.0, 0.6) for _ in range(400)]  # median ~18 ms, wide
    b = [v * 1.12 for v in a[:400]]  # 12% slower: beyond the threshold and the floor ...
    sa, sb = stats(a), stats(b)
    base = summary(count=400, p50=sa.total.latency.percentile(50) * 1000)
    new = summary(count=400, p50=sb.total.latency.percentile(50) * 1000)
    result = compare(base, new, max_regression=0.10, base_stats=sa, new_stats=sb)
    p50 = next(c for c in result.changes if c.row == "total" and c.figure == "p50 ms")
    assert p50.base_ci is not None and p50.base_ci[0] < p50.base < p50.base_ci[1]
    assert not p50.regressed and "intervals overlap" in p50.note  # ... but 400 samples cannot tell
    assert "[" in format_comparison(result)


def test_a_row_one_run_lacks_is_named_beside_the_verdict() -> None:
    """Before: an endpoint only the base has (the new run never sent it) showed only in the table."""
    base = summary()
    base["endpoints"]["identify"] = row()
    out = format_comparison(compare(base, summary(), max_regression=0.1, base_name="A", new_name="B"))
    assert "identify  requests" in out and "only in A" in out
    assert "warning: identify is missing from B: not compared" in out


def test_an_interrupted_run_is_named_beside_the_verdict() -> None:
    """Before: `compare base stopped` said "no regression" of a run SIGTERM stopped 4 s into its
    20 s, not a word of it: figures of part of a plan compared as a whole run's."""
    stopped = summary()
    stopped.update(result="INTERRUPTED", interrupted=True)
    stopped["timing"] = {"started": 0.0, "ended": 4.213, "duration_s": 4.213, "planned_s": 20.0}
    for base, new, who in ((summary(), stopped, "B"), (stopped, summary(), "A")):
        out = format_comparison(compare(base, new, max_regression=0.1, base_name="A", new_name="B"))
        assert f"warning: {who} was interrupted after 4.213 s of 20 s planned" in out, out
    out = format_comparison(compare(summary(), summary(), max_regression=0.1))
    assert "interrupted" not in out
    stopped["timing"] = {"duration_s": None}  # a hand-edited file: named all the same, no traceback
    out = format_comparison(compare(summary(), stopped, max_regression=0.1, new_name="B"))
    assert "warning: B was interrupted: its figures cover part of its plan" in out, out


def test_a_run_that_sent_no_requests_cannot_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: `compare base empty` printed 'no regression' and exited 0."""
    write_run(tmp_path / "base", seed=1)
    empty = orjson.loads((tmp_path / "base" / "summary.json").read_bytes())
    empty["total"] = row(count=0, p50=0.0, p95=0.0, p99=0.0, max_ms=0.0, rps=0.0)
    empty["endpoints"], empty["steps"] = {}, {}
    (tmp_path / "empty.json").write_bytes(orjson.dumps(empty))
    for a, b, who in (("base", "empty.json", "empty.json"), ("empty.json", "base", "empty.json")):
        code, out = cli(capsys, "compare", str(tmp_path / a), str(tmp_path / b))
        assert code == 1, out
        assert out.rstrip().splitlines()[-1] == (
            f"compare: FAILED: {tmp_path / who} sent no requests: a run that measured nothing cannot pass"
        ), out


def test_a_row_without_its_figures_is_bad_input_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: KeyError: 'p50_ms' (a traceback) when a summary's endpoint row lacked a figure."""
    write_run(tmp_path / "run")
    broken = orjson.loads((tmp_path / "run" / "summary.json").read_bytes())
    del broken["endpoints"]["events"]["p50_ms"]
    (tmp_path / "broken.json").write_bytes(orjson.dumps(broken))
    code, out = cli(capsys, "compare", str(tmp_path / "run"), str(tmp_path / "broken.json"))
    assert code == 2, out
    assert f"{tmp_path / 'broken.json'}: endpoints.events lacks p50_ms: not a complete loadsim summary" in out, out


@pytest.mark.parametrize(
    ("file", "where", "value", "says"),
    [
        ("summary.json", ["total", "count"], -5, "total.count is -5, a negative count"),
        ("summary.json", ["endpoints", "events", "failures"], -1, "endpoints.events.failures is -1, a negative count"),
        (
            "summary.json",
            ["endpoints", "events", "failures"],
            10**9,
            "endpoints.events.failures is 1000000000, more than",
        ),
        ("stats.json", ["total", "count"], -5, "total.count is -5, a negative count"),
        ("stats.json", ["total", "failures"], 10**9, "total.failures is 1000000000, more than"),
        ("stats.json", ["endpoints", "events", "latency", "count"], -7, "endpoints.events.latency.count is -7, a neg"),
    ],
    ids=["summary-count", "summary-failures", "summary-more-failures", "stats-count", "stats-failures", "stats-hist"],
)
def test_counts_no_run_writes_are_bad_input_and_nothing_is_computed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], file: str, where: list[str], value: int, says: str
) -> None:
    """Before: a count of -5 compared as "no regression" (exit 0), and 10**9 failures of fewer requests as a
    regression of +99 pp (exit 1): verdicts from figures no run can have."""
    write_run(tmp_path / "base", seed=1)
    write_run(tmp_path / "bad", seed=1)
    path = tmp_path / "bad" / file
    data = orjson.loads(path.read_bytes())
    node = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    path.write_bytes(orjson.dumps(data))
    for args in ((tmp_path / "base", tmp_path / "bad"), (tmp_path / "bad", tmp_path / "base")):
        code, out = cli(capsys, "compare", *map(str, args))
        assert code == 2, out
        lines = out.strip().splitlines()
        assert len(lines) == 1 and f"{path}: {says}" in lines[0], out
        assert "compare:" not in out, out
