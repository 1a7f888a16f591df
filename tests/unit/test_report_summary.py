"""Report files: the funnel's numbers, report.html's content, and ``loadsim report`` rendering them again."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from simulator.cli import main
from simulator.report.html import render_html
from simulator.report.slo import Verdict, junit_xml
from simulator.report.stats import RunStats
from simulator.report.summary import build_summary, funnel, funnel_steps, render_again, write_summary
from simulator.scenario import DEFAULT_EVENT_NAMES, JourneyConfig, JourneyState

START = 1_800_000_000.0
#: (endpoint, step, weight) of the synthetic traffic
TRAFFIC = (
    ("externalIds", "externalIds", 10),
    ("identify", "identify", 4),
    ("events", "event:Screen View", 30),
    ("events", "event:Add to Cart", 5),
    ("events", "event:Purchase", 2),
)


def synthetic_stats(
    *,
    seed: int = 1,
    seconds: float = 60.0,
    rate: float = 40.0,
    slow: float = 1.0,
    failure: float = 0.01,
    rejection: float = 0.01,
    drop: float = 0.0,
) -> RunStats:
    """A run's stats from a seeded random stream: Poisson arrivals, log-normal latencies, some failures."""
    rng = random.Random(seed)
    stats = RunStats()
    t = START
    while True:
        t += rng.expovariate(rate)
        if t >= START + seconds:
            break
        endpoint, step, _ = rng.choices(TRAFFIC, [w for *_, w in TRAFFIC])[0]
        latency = rng.lognormvariate(-6.5, 0.6) * slow
        r = rng.random()
        outcome = "failure" if r < failure else "expected_rejection" if r < failure + rejection else "ok"
        error = rng.choice(["status 503", "ConnectionResetError"]) if outcome == "failure" else None
        stats.record(
            endpoint=endpoint,
            step=step,
            latency=latency,
            service=latency * 0.8,
            outcome=outcome,
            error=error,
            example=f"{error}: <b>first</b>" if error else None,
            at=t,
        )
        if drop:
            stats.arrive(t, dropped=rng.random() < drop)
    stats.count("devices", 100)
    return stats


def synthetic_summary(
    stats: RunStats, *, saturated: bool = False, seconds: float = 60.0, journey: JourneyConfig | None = None
) -> dict[str, Any]:
    verdicts = [
        Verdict("latency p95 of total <= 250 ms", 250.0, round(stats.total.latency.percentile(95) * 1000, 3), True),
        Verdict("error rate of total <= 0.001", 0.001, 0.01, False),
    ]
    rec = {"ok": True, "differences": [], "endpoints": {"events": {"acknowledged": 5, "stored": 5}}}
    return build_summary(
        stats=stats,
        scenario="synthetic",
        seed=3,
        target={"kind": "mock", "host": "http://127.0.0.1:9"},
        model="open",
        started=START,
        ended=START + seconds,
        workers=1,
        reconciliation=rec,
        target_rate=40.0,
        verdicts=verdicts,
        cpu_samples=[95.0] * 3 if saturated else [20.0],
        journey=journey,
    )


def write_run(report_dir: Path, *, saturated: bool = False, **kw: Any) -> dict[str, Any]:
    """A complete report directory as ``loadsim run`` writes it, from synthetic stats."""
    stats = synthetic_stats(**kw)
    summary = synthetic_summary(stats, saturated=saturated, seconds=kw.get("seconds", 60.0))
    verdicts = [Verdict(**v) for v in summary["slo"]]
    write_summary(report_dir, summary, stats, junit=junit_xml(verdicts, suite="synthetic", duration_s=60.0))
    return summary


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


# --- the funnel ---------------------------------------------------------------------------------


def test_funnel_counts_successful_steps_and_converts_against_sessions() -> None:
    s = RunStats()

    def send(step: str, n: int, outcome: str = "ok") -> None:
        endpoint = step if step in ("externalIds", "identify") else "events"
        for _ in range(n):
            s.record(endpoint=endpoint, step=step, latency=0.01, service=0.01, outcome=outcome, at=START)

    send("externalIds", 200)
    send("externalIds", 7, "failure")  # a failed session start is not a session
    send("identify", 80)
    send("identify", 5, "expected_rejection")  # nor is a faulty SDK's rejected identify
    send("event:Add to Cart", 50)
    send("event:Purchase", 20)
    send("event:Purchase", 3, "failure")
    send("event:Screen View", 999)  # not a funnel stage
    the_funnel = build_summary(
        stats=s,
        scenario="x",
        seed=1,
        target={},
        model="closed",
        started=START,
        ended=START + 10,
        workers=1,
        reconciliation=None,
    )["funnel"]
    stages = the_funnel["stages"]
    assert the_funnel["counts"] == "requests"  # no session counts: an older run's stats
    assert [(st["stage"], st["count"]) for st in stages] == [
        ("sessions", 200),
        ("added to cart", 50),
        ("purchased", 20),
    ]
    assert [st["conversion"] for st in stages] == [1.0, 0.25, 0.1]
    assert [st["from_previous"] for st in stages] == [None, None, None]  # requests are not ordered
    assert the_funnel["login"]["count"] == 80 and the_funnel["login"]["rate"] == 0.4


def test_the_funnel_is_ordered_distinct_sessions_and_login_is_a_rate_of_its_own() -> None:
    """Issue #14 item 9: "of previous" read 239.5% for added to cart against identified, because
    logging in is no step before adding to cart. Now: ordered stages of distinct sessions."""
    from simulator.report.summary import reach

    reached: set[str] = set()
    reach(reached, "purchased")  # a purchase without the stages before it does not reach it
    reach(reached, "sessions")
    reach(reached, "identified")
    reach(reached, "purchased")  # still no cart
    assert reached == {"sessions", "identified"}
    reach(reached, "added to cart")
    reach(reached, "purchased")
    assert reached == {"sessions", "identified", "added to cart", "purchased"}
    counted = funnel(
        {}, funnel_steps(), reached={"sessions": 100, "identified": 20, "added to cart": 48, "purchased": 9}
    )
    assert [st["stage"] for st in counted["stages"]] == ["sessions", "added to cart", "purchased"]
    assert [st["from_previous"] for st in counted["stages"]] == [None, 0.48, 0.1875]
    assert counted["login"] == {"stage": "identified", "steps": ["identify"], "count": 20, "rate": 0.2}


def test_funnel_follows_the_scenarios_event_names() -> None:
    """A scenario that renames its events ([journey.event_names] or a state's event) keeps its funnel."""
    journey = JourneyConfig(
        start="home",
        transitions=(),
        states={
            "home": JourneyState("home"),
            "cart": JourneyState("cart", action="add_to_cart"),
            "buy": JourneyState("buy", action="purchase", event="Order Completed"),
        },
        event_names={**DEFAULT_EVENT_NAMES, "add_to_cart": "Basket Add"},
    )
    steps = funnel_steps(journey)
    assert steps["added to cart"] == ("event:Basket Add",)
    assert steps["purchased"] == ("event:Purchase", "event:Order Completed")
    s = RunStats()
    for step, n in (("externalIds", 10), ("event:Basket Add", 4), ("event:Order Completed", 2), ("event:Purchase", 1)):
        for _ in range(n):
            s.record(endpoint="events", step=step, latency=0.01, service=0.01, outcome="ok", at=START)
    counts = {st["stage"]: st["count"] for st in funnel(s.steps, steps)["stages"]}
    assert counts == {"sessions": 10, "added to cart": 4, "purchased": 3}


def test_funnel_of_a_run_without_sessions_has_no_conversion() -> None:
    stages = funnel(RunStats().steps, funnel_steps())["stages"]
    assert all(st["count"] == 0 and st["conversion"] is None for st in stages)


# --- report.html --------------------------------------------------------------------------------


def test_report_html_is_self_contained() -> None:
    stats = synthetic_stats(drop=0.1)
    page = render_html(synthetic_summary(stats), stats)
    # nothing to fetch: no external scripts, styles, images, fonts or frames, and no links off the page
    assert not re.search(r"<(link|img|iframe|object|embed)\b", page, re.I)
    assert not re.search(r"<script[^>]*\bsrc=", page, re.I)
    assert not re.search(r"url\(|@import|@font-face", page, re.I)
    assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', page))
    assert not re.findall(r'\bsrc="([^"]*)"', page)


def test_report_html_shows_the_runs_figures() -> None:
    stats = synthetic_stats(drop=0.1)
    summary = synthetic_summary(stats)
    page = render_html(summary, stats)
    for title in (
        "Request rate",
        "Latency percentiles over time",
        "Errors over time",
        "Dropped arrivals over time",
        "Latency distribution",
        "Journey funnel",
        "SLOs",
        "Reconciliation",
        "Errors by kind",
    ):
        assert f"<h2>{title}</h2>" in page
    # rate, latency of 3 endpoints and the total, errors, dropped, distribution
    assert page.count("<svg") == 1 + 4 + 1 + 1 + 1
    assert "error rate of total &lt;= 0.001" in page and '<span class="fail">FAIL</span>' in page
    sessions = summary["funnel"]["stages"][0]["count"]
    assert f'<td class="num">{sessions:,}</td>' in page
    # an error's first example is shown, escaped
    assert "status 503: &lt;b&gt;first&lt;/b&gt;" in page
    assert "FAILED" in page  # an SLO failed


def test_saturated_generator_gets_a_banner_and_a_clean_run_none() -> None:
    stats = synthetic_stats()
    loud = render_html(synthetic_summary(stats, saturated=True), stats)
    quiet = render_html(synthetic_summary(stats, saturated=False), stats)
    assert 'role="alert"' in loud and "The load generator was saturated" in loud
    assert "The load generator was saturated" not in quiet


def test_report_html_of_a_run_with_no_requests_still_renders() -> None:
    stats = RunStats()
    page = render_html(synthetic_summary(stats), stats)
    assert "No requests were recorded" in page and "No requests: no latency distribution" in page


def test_summary_md_carries_the_funnel(tmp_path: Path) -> None:
    summary = write_run(tmp_path)
    md = (tmp_path / "summary.md").read_text(encoding="utf-8")
    first = summary["funnel"]["stages"][0]["count"]
    assert f"sessions {first} → added to cart" in md and "logged in: " in md


# --- loadsim report -----------------------------------------------------------------------------


def test_report_renders_again_exactly_what_the_run_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(tmp_path, drop=0.05, saturated=True)
    names = ("summary.md", "junit.xml", "report.html")
    before = {n: (tmp_path / n).read_bytes() for n in names}
    for n in names:
        (tmp_path / n).unlink()
    code, out = cli(capsys, "report", str(tmp_path))
    assert code == 0, out
    assert "rendered summary.md, junit.xml, report.html" in out
    assert {n: (tmp_path / n).read_bytes() for n in names} == before


def test_report_of_a_summary_without_a_funnel_adds_it(tmp_path: Path) -> None:
    """A summary.json written before the funnel section existed still renders, with the funnel."""
    write_run(tmp_path)
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())
    del summary["funnel"]
    (tmp_path / "summary.json").write_bytes(orjson.dumps(summary))
    render_again(tmp_path)
    assert '<h2>Journey funnel</h2><p class="note">' in (tmp_path / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "no summary.json"),
        (lambda d: (d / "summary.json").write_text("{not json"), "not valid JSON"),
        (lambda d: (d / "summary.json").write_text('{"hello": 1}'), "no schema_version"),
        (lambda d: (d / "summary.json").write_text('{"schema_version": 99}'), "schema_version 99"),
    ],
)
def test_report_of_a_directory_that_is_no_run_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: Any, message: str
) -> None:
    setup(tmp_path)
    code, out = cli(capsys, "report", str(tmp_path))
    assert code == 2 and message in out and "Traceback" not in out


def test_report_without_stats_json_says_it_cannot_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(tmp_path)
    (tmp_path / "stats.json").unlink()
    code, out = cli(capsys, "report", str(tmp_path))
    assert code == 2 and "no stats.json" in out


def test_report_of_a_missing_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli(capsys, "report", str(tmp_path / "nope"))
    assert code == 2 and "is not a directory" in out


def test_long_runs_are_drawn_from_merged_slices_and_the_stats_stay_intact() -> None:
    """600 two-second slices become at most MAX_POINTS points per chart; merging does not touch the run's stats."""
    from simulator.report.html import MAX_POINTS

    stats = synthetic_stats(seconds=1200, rate=5)
    before = stats.to_dict()
    page = render_html(synthetic_summary(stats, seconds=1200), stats)
    assert stats.to_dict() == before
    rate_chart = page[page.index('<section id="rate">') : page.index('<section id="latency">')]
    assert 100 <= rate_chart.count('class="hover"') <= MAX_POINTS
    assert "Slices of 8 s" in rate_chart


def test_client_retries_and_offline_queue_reach_the_summary_and_the_page(tmp_path: Path) -> None:
    stats = synthetic_stats(seconds=20)
    for i in range(3):
        stats.retry("events", START + 1 + 5 * i, "status 503")
    stats.retry("identify", START + 1, "connection (ConnectionRefusedError)")
    stats.recovered = 2
    stats.requeued, stats.unsent = 5, 1
    for i, depth in enumerate((0, 4, 9, 2)):
        stats.queue_depth(START + 2 * i, depth)
    summary = synthetic_summary(stats, seconds=20)
    assert summary["retries"] == {
        "total": 4,
        "endpoints": {"events": 3, "identify": 1},
        "recovered": 2,
        "after": {"status 503": 3, "connection (ConnectionRefusedError)": 1},
    }
    assert summary["offline_queue"]["requeued"] == 5 and summary["offline_queue"]["unsent"] == 1
    page = render_html(summary, stats)
    assert "<h2>Offline queue depth</h2>" in page and "requests recovered: 2" in page
    assert "<h2>Retries over time</h2>" in page
    # On the timeline where they happened, and kept through a worker's report to the master.
    step = stats.timeline_step
    expected: dict[int, int] = {}
    for t in (START + 1, START + 6, START + 11, START + 1):
        expected[int(t) // step * step] = expected.get(int(t) // step * step, 0) + 1
    assert {k: piece["retries"] for k, piece in stats.timeline.items() if "retries" in piece} == expected
    master = RunStats()
    master.merge(RunStats.from_dict(stats.to_dict()))
    master.merge(RunStats.from_dict(stats.to_dict()))
    assert sum(piece.get("retries", 0) for piece in master.timeline.values()) == 8
    write_summary(tmp_path, summary, stats, junit="")
    assert "Client: 4 retries (2 requests recovered; after status 503 3, connection (ConnectionRefusedError) 1)" in (
        tmp_path / "summary.md"
    ).read_text(encoding="utf-8")


def test_the_target_stopped_answering_banner_is_only_for_a_target_that_did() -> None:
    """A healthy run stopped with two requests in flight (answered in a millisecond) said in red
    "The target stopped answering"; only a stall or a failed wait does."""
    stats = synthetic_stats(drop=0.0)
    healthy = {
        **synthetic_summary(stats),
        "unfinished": {"count": 2, "endpoints": {"events": {"count": 2, "max_elapsed_s": 0.001}}},
    }
    assert "stopped answering" not in render_html(healthy, stats)
    stalled = {**healthy, "stall": {"seconds": 12, "from": START + 5, "longest_wait_s": 12.4}}
    assert "stopped answering" in render_html(stalled, stats)
    late = {
        **healthy,
        "slo": [
            {
                "name": "no request unanswered for more than 5 s",
                "threshold": 5.0,
                "actual": 14.2,
                "unit": "s",
                "passed": False,
            }
        ],
    }
    assert "stopped answering" in render_html(late, stats)


def test_a_stage_short_of_its_target_is_a_warning_and_travels_with_a_workers_figures() -> None:
    """Arrivals by stage add up across workers (msgpack and JSON keep them), and a stage that fell
    short of min_rate_share is named even where the run's share held; one of few arrivals is not."""
    worker = RunStats()
    for i in range(200):
        dropped = i % 2 == 0
        worker.arrive(START + i * 0.05, dropped=dropped, stage=1, requests=0 if dropped else 5)
    worker.arrive(START, dropped=False, stage=0, requests=4)
    master = RunStats()
    master.arrive(START, dropped=False, stage=0, requests=3)
    master.merge(RunStats.from_dict(orjson.loads(orjson.dumps(worker.to_dict()))))
    assert master.stage_arrivals == {"0": [2, 0, 7], "1": [200, 100, 500]}
    rows = [
        {"stage": 1, "from_s": 0, "to_s": 10, "target_rate": 2, "planned": 20, "scheduled": 2, "dropped": 0,
         "achieved_rate": 0.2},
        {"stage": 2, "from_s": 10, "to_s": 20, "target_rate": 20, "planned": 200, "scheduled": 200, "dropped": 100,
         "achieved_rate": 10.0},
        {"stage": 3, "from_s": 20, "to_s": 21, "target_rate": 20, "planned": 19, "scheduled": 1, "dropped": 0,
         "achieved_rate": 1.0},
    ]  # fmt: skip
    summary = build_summary(
        stats=master, scenario="s", seed=1, target={"kind": "mock"}, model="open", started=START,
        ended=START + 21, workers=2, reconciliation=None, stages=rows, min_rate_share=0.9,
    )  # fmt: skip
    assert summary["arrivals"]["stages"] == rows
    assert summary["warnings"] == [
        "stage 1 (0-10 s) reached 0.2/s of its target 2/s (10%, below 90%), 0 arrival(s) dropped",
        "stage 2 (10-20 s) reached 10/s of its target 20/s (50%, below 90%), 100 arrival(s) dropped",
    ]  # stage 3's 19 planned arrivals are too few to judge
    without = build_summary(
        stats=master, scenario="s", seed=1, target={"kind": "mock"}, model="open", started=START,
        ended=START + 21, workers=2, reconciliation=None, stages=rows, min_rate_share=None,
    )  # fmt: skip
    assert without["warnings"] == []  # slo.completion = false: not judged
