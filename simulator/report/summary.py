"""``summary.json``, ``summary.md``, ``junit.xml`` and ``report.html``: the harness's verdict on a run.

``summary.json`` is versioned for CI tools; ``stats.json`` keeps the histograms and the timeline so
``loadsim report`` renders everything again (``render_again``) without re-running anything.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from simulator.errors import HarnessError
from simulator.report.format import num
from simulator.report.outcome import interruption, mock_caps, mock_warnings, replay_line, result_of, stage_span
from simulator.report.slo import Verdict, failed, junit_xml, verdict_word
from simulator.scenario import DEFAULT_EVENT_NAMES

if TYPE_CHECKING:  # simulator.loadtest imports this module (through hooks): types only, no cycle
    from simulator.report.stats import RunStats, Series
    from simulator.scenario import JourneyConfig

__all__ = [
    "FUNNEL",
    "SCHEMA_VERSION",
    "NotARunReport",
    "build_summary",
    "default_report_dir",
    "funnel",
    "funnel_steps",
    "load_run",
    "load_summary",
    "render_again",
    "write_summary",
    "write_summary_json",
]

SCHEMA_VERSION = 1
#: The timeline's row of every request (``RunStats.timeline``).
TOTAL_KEY = "total"

#: The journey funnel, in order: stage -> the journey action whose successful request marks a
#: session with it (``externalIds`` is a step of its own; the others are ``event:<name>``). A
#: session reaches a stage only after the stage before it, so each stage counts distinct sessions
#: and "of previous" never passes 100%.
FUNNEL: tuple[tuple[str, str], ...] = (
    ("sessions", "externalIds"),
    ("added to cart", "add_to_cart"),
    ("purchased", "purchase"),
)
#: Logging in is no step on the way to a purchase (a shopper adds to cart without it): it is a rate
#: of its own, the share of sessions that identified.
LOGIN: tuple[str, str] = ("identified", "identify")
_ORDER = [stage for stage, _ in FUNNEL]


def reach(reached: set[str], stage: str) -> None:
    """A session's request of ``stage`` succeeded: it reaches it if it reached the stage before."""
    if stage == LOGIN[0]:
        reached.add(stage)
        return
    i = _ORDER.index(stage)
    if i == 0 or _ORDER[i - 1] in reached:
        reached.add(stage)


class NotARunReport(HarnessError):
    """A directory that holds no run report (``summary.json`` and ``stats.json``)."""


def _row(series: Series, seconds: float) -> dict[str, Any]:
    row: dict[str, Any] = {
        "count": series.count,
        "failures": series.failures,
        "expected_rejections": series.expected_rejections,
        "rps": round(series.count / seconds, 3) if seconds > 0 else 0.0,
    }
    row.update(series.latency.percentiles())
    row["service_time"] = series.service.percentiles()
    return row


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("loadsim", "locust", "numpy", "faker", "orjson"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def funnel_steps(journey: JourneyConfig | None = None) -> dict[str, tuple[str, ...]]:
    """Funnel stage -> the step names (request names) that count it.

    An event's name comes from its state's ``event``, else from ``[journey.event_names]``, so a
    scenario that renames "Purchase" still has a funnel.
    """
    names = dict(DEFAULT_EVENT_NAMES) if journey is None else {**DEFAULT_EVENT_NAMES, **journey.event_names}
    out: dict[str, tuple[str, ...]] = {}
    for stage, action in (*FUNNEL, LOGIN):
        if action in ("externalIds", "identify"):
            out[stage] = (action,)
            continue
        steps = [f"event:{names[action]}"]
        for state in () if journey is None else journey.states.values():
            step = f"event:{state.event or names[action]}"
            if state.action == action and step not in steps:
                steps.append(step)
        out[stage] = tuple(steps)
    return out


#: The simulated clients' offline queues in the summary: key, RunStats attribute.
OFFLINE_QUEUE: tuple[tuple[str, str], ...] = (
    ("requeued", "requeued"),
    ("dropped", "client_dropped"),
    ("unsent", "unsent"),
    ("offline_sessions", "offline_sessions"),
)


def _retries(stats: RunStats) -> dict[str, Any]:
    """Extra attempts the simulated clients made, per endpoint and per error that caused them
    (most frequent first), and how many requests they saved."""
    per = dict(sorted(stats.retries.items()))
    kinds = dict(sorted(stats.retried_kinds.items(), key=lambda kv: (-kv[1], kv[0])))
    return {"total": sum(per.values()), "endpoints": per, "after": kinds, "recovered": stats.recovered}


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def funnel(
    steps: Mapping[str, Series],
    stage_steps: Mapping[str, Sequence[str]],
    *,
    devices: int = 0,
    reached: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The ordered funnel of distinct sessions: each stage counts the sessions that reached it after
    the stage before, with conversion from sessions and from the stage before (at most 100%); and
    the login rate apart (sessions that identified, of all sessions).

    ``reached`` counts sessions per stage (``loadsim run`` and ``replay`` keep it); without it (a
    report of an older run) the counts are successful requests, which are not ordered, so
    "from previous" is left out. Successful means neither a failure nor an expected rejection.
    """
    per_session = reached is not None and "sessions" in reached

    def count(stage: str, names: Sequence[str]) -> int:
        if per_session:
            return int(reached.get(stage, 0))  # type: ignore[union-attr]
        return sum(s.count - s.failures - s.expected_rejections for k in names if (s := steps.get(k)) is not None)

    stages: list[dict[str, Any]] = [
        {"stage": stage, "steps": list(names), "count": count(stage, names)}
        for stage, names in stage_steps.items()
        if stage != LOGIN[0]
    ]
    first = stages[0]["count"] if stages else 0
    for i, st in enumerate(stages):
        st["conversion"] = _ratio(st["count"], first)
        st["from_previous"] = _ratio(st["count"], stages[i - 1]["count"]) if i and per_session else None
    login_steps = list(stage_steps.get(LOGIN[0], ()))
    logins = count(LOGIN[0], login_steps)
    return {
        "devices": devices,
        "counts": "sessions" if per_session else "requests",
        "stages": stages,
        "login": {"stage": LOGIN[0], "steps": login_steps, "count": logins, "rate": _ratio(logins, first)},
    }


#: A stage is judged short only on enough arrivals: its first and last arrival fall either side of
#: its edges, so a stage of a few arrivals misses or gains one by its timing alone.
STAGE_MIN_ARRIVALS = 20


def _stage_short(row: Mapping[str, Any], share: float) -> str | None:
    """The warning for an open-model stage whose achieved rate fell below ``share`` of its target."""
    target, achieved = row.get("target_rate"), row.get("achieved_rate")
    if not target or achieved is None or row["planned"] < STAGE_MIN_ARRIVALS or achieved >= share * target:
        return None
    return (
        f"stage {row['stage']} ({stage_span(row)}) reached {achieved:g}/s of its target {target:g}/s "
        f"({achieved / target:.0%}, below {share:.0%}), {row['dropped']} arrival(s) dropped"
    )


def build_summary(
    *,
    stats: RunStats,
    scenario: str,
    seed: int,
    target: Mapping[str, str],
    model: str,
    started: float,
    ended: float,
    workers: int,
    reconciliation: Mapping[str, Any] | None,
    target_rate: float | None = None,
    achieved_rate: float | None = None,
    rate_unit: str = "sessions",
    planned_arrivals: float | None = None,
    stages: Sequence[Mapping[str, Any]] = (),
    min_rate_share: float | None = None,
    planned_s: float | None = None,
    interrupted: bool = False,
    aborted: str | None = None,
    exhausted: bool = False,
    verdicts: Sequence[Verdict] = (),
    cpu_samples: Sequence[float] = (),
    saturated_at: float = 90.0,
    journey: JourneyConfig | None = None,
    replay: Mapping[str, Any] | None = None,
    lost_workers: Sequence[str] = (),
) -> dict[str, Any]:
    """The run's verdict: ``passed`` is false when an SLO failed or reconciliation found a difference.

    ``journey`` (the scenario's) names the funnel's events; without it the default names count.
    ``replay`` (``loadsim replay``: the dataset's requests, those sent, a problem, a note): its
    problem fails the run, named first; its note (a replay cut short on purpose) is a warning.
    ``stages`` (open model): each stage's target and achieved rate; one that fell short of
    ``min_rate_share`` of its target is a warning, even where the run's share held.
    ``lost_workers``: the workers (ids) whose last figures never reached the master, named in a warning.
    """
    seconds = max(ended - started, 1e-9)
    reconciled = reconciliation is None or bool(reconciliation.get("ok"))
    warnings: list[str] = []
    if saturated(cpu_samples, saturated_at) and not any(v.name.startswith("generator CPU") for v in verdicts):
        warnings.append(
            f"the load generator was saturated (CPU up to {max(cpu_samples):.0f}%, threshold {saturated_at:g}%): "
            "latency figures include its own queueing; add --processes or workers"
        )
    if lost_workers:
        warnings.append(
            f"{len(lost_workers)} of {workers} workers sent no last figures ({', '.join(lost_workers)}; killed?): "
            "the report misses what they sent since their last periodic report"
        )
    if replay is not None and replay.get("note"):
        warnings.append(str(replay["note"]))
    if min_rate_share is not None:
        warnings += [short for row in stages if (short := _stage_short(row, min_rate_share))]
    result, reason = verdict_line(
        verdicts,
        reconciliation,
        interrupted=interrupted,
        aborted=aborted,
        duration_s=seconds,
        planned_s=planned_s,
        problem=(replay or {}).get("problem"),
    )
    return {
        "schema_version": SCHEMA_VERSION,
        "scenario": scenario,
        "seed": seed,
        "target": dict(target),
        "load_model": model,
        # PASSED, FAILED (an SLO or reconciliation) or INTERRUPTED (stopped by a signal before its
        # planned run time, nothing failed so far): CI tells them apart by this or the exit code.
        "result": result,
        "reason": reason,
        "interrupted": interrupted,
        "timing": {
            "started": started,
            "ended": ended,
            "duration_s": round(seconds, 3),
            "planned_s": None if planned_s is None else round(planned_s, 3),
        },
        "workers": workers,
        "total": _row(stats.total, seconds),
        "endpoints": {k: _row(s, seconds) for k, s in sorted(stats.endpoints.items())},
        "steps": {k: _row(s, seconds) for k, s in sorted(stats.steps.items())},
        "errors": [
            {"kind": k, "count": e["count"], "example": e["example"]}
            for k, e in sorted(stats.errors.items(), key=lambda kv: -kv[1]["count"])
        ],
        # A faulty SDK's bodies answered 400, as they must be: by fault kind, with the collector's message.
        "expected_rejections": [
            {"fault": k, "count": e["count"], "message": e["example"]}
            for k, e in sorted(stats.rejections.items(), key=lambda kv: (-kv[1]["count"], kv[0]))
        ],
        "arrivals": {
            "planned": planned_arrivals,
            "scheduled": stats.arrivals,
            "dropped": stats.dropped,
            "unit": rate_unit,
            "target_rate": target_rate,
            "achieved_rate": achieved_rate,
            "stages": [dict(row) for row in stages],
        },
        "retries": _retries(stats),
        "offline_queue": {
            **{name: int(getattr(stats, attr)) for name, attr in OFFLINE_QUEUE},
            "max_depth": max((p.get("queued", 0) for p in stats.timeline.values()), default=0),
        },
        "devices_started": stats.funnel.get("devices", 0),
        "funnel": funnel(
            stats.steps, funnel_steps(journey), devices=stats.funnel.get("devices", 0), reached=stats.funnel
        ),
        "generator": {
            "max_cpu_percent": round(max(cpu_samples, default=0.0), 1),
            # readings taken (one a second in each process); the busiest of each slice is kept
            "samples": stats.cpu_readings or len(cpu_samples),
            "threshold_percent": saturated_at,
            "saturated": saturated(cpu_samples, saturated_at),
        },
        "warnings": warnings,
        "unfinished": unfinished(stats),
        "stall": stall(stats),
        "population_exhausted": exhausted,
        "replay": dict(replay) if replay is not None else None,
        "reconciliation": dict(reconciliation) if reconciliation is not None else None,
        "slo": [v.to_dict() for v in verdicts],
        "passed": result == "PASSED" and reconciled,
        "versions": _versions(),
    }


def saturated(cpu_samples: Sequence[float], threshold: float) -> bool:
    """At least a tenth of the generator's CPU samples (one a second) reached ``threshold``: its
    latency figures then include its own queueing."""
    return bool(cpu_samples) and sum(c >= threshold for c in cpu_samples) * 10 >= len(cpu_samples)


def is_completion(v: Verdict) -> bool:
    """One of the completion SLOs (slo.completion): did the target keep up?"""
    return v.name.startswith("no request unanswered") or v.name.endswith(("of the planned rate", "% of arrivals"))


def verdict_line(
    verdicts: Sequence[Verdict],
    reconciliation: Mapping[str, Any] | None,
    *,
    interrupted: bool = False,
    aborted: str | None = None,
    duration_s: float = 0.0,
    planned_s: float | None = None,
    problem: str | None = None,
) -> tuple[str, str]:
    """(result, the reason in one line): what a CI log shows last. ``problem``: a harness input that
    failed mid-run (a damaged dataset line), named first."""
    reasons: list[str] = [problem] if problem else []
    differences = list((reconciliation or {}).get("differences") or [])
    # Completion first: a target that stopped answering explains the SLOs that measured nothing.
    for v in sorted(verdicts, key=lambda v: not is_completion(v)):
        if not failed(v, interrupted=interrupted):
            continue
        if v.name.startswith("reconciliation") and differences:
            reasons.append("reconciliation: " + differences[0])
        else:
            reasons.append(v.reason)
    cut = ""
    if interrupted:
        planned = f" of {planned_s:.0f} s planned" if planned_s else ""
        cut = f"interrupted after {duration_s:.0f} s{planned}, figures partial"
    if aborted:
        reasons.insert(0, "stopped early by slo.abort_on_fail")
    if reasons:
        more = f" (and {len(reasons) - 3} more)" if len(reasons) > 3 else ""
        return "FAILED", "; ".join([*([cut] if cut else []), *reasons[:3]]) + more
    if interrupted:
        return "INTERRUPTED", cut + "; no SLO failed so far"
    return "PASSED", "every SLO held"


def unfinished(stats: RunStats) -> dict[str, Any]:
    """Requests still waiting for their answer when the test stopped, by endpoint, with how long
    they had waited: a target that stopped answering leaves long waits here."""
    endpoints = {
        ep: {"count": len(waits), "max_elapsed_s": round(max(waits), 3), "elapsed_s": sorted(waits, reverse=True)[:20]}
        for ep, waits in sorted(stats.unfinished.items())
        if waits
    }
    return {"count": sum(e["count"] for e in endpoints.values()), "endpoints": endpoints}


def stall(stats: RunStats) -> dict[str, Any]:
    """Seconds of the timeline in which requests waited and none finished: the target stalled."""
    step = stats.timeline_step
    stalled = [
        k
        for k, piece in sorted(stats.timeline.items())
        if piece.get("inflight", 0) > 0 and not (piece.get(TOTAL_KEY) or [0])[0]
    ]
    from simulator.report.slo import longest_wait

    return {
        "seconds": len(stalled) * step,
        "from": stalled[0] if stalled else None,
        "longest_wait_s": round(longest_wait(stats), 3),
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.1f}%"


def summary_markdown(summary: Mapping[str, Any]) -> str:
    timing = summary["timing"]
    planned = timing.get("planned_s")
    of_planned = f" of {planned:.0f} s planned" if summary.get("interrupted") and planned else ""
    lines = [
        f"### loadsim: {summary['scenario']} ({summary['load_model']} model, "
        f"{timing['duration_s']:.0f} s{of_planned}, {summary['workers']} worker(s)): "
        f"{result_of(summary)}",
        "",
        f"{result_of(summary)}: {summary.get('reason', '')}",
        "",
        "| name | requests | failures | expected 400s | req/s | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for warning in summary.get("warnings") or []:
        lines[1:1] = ["", f"**Warning: {warning}.**"]
    if summary["generator"]["saturated"] and not summary.get("warnings"):
        lines[1:1] = [
            "",
            f"**The load generator was saturated (CPU up to {summary['generator']['max_cpu_percent']}%): "
            "latency figures include its own queueing. Add --processes or workers.**",
        ]
    steps = [(k, v) for k, v in summary["steps"].items() if k not in summary["endpoints"]]
    rows = [*summary["endpoints"].items(), *steps, ("total", summary["total"])]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['count']} | {r['failures']} | {r['expected_rejections']} | {r['rps']:.1f} "
            f"| {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} |"
        )
    replayed = summary.get("replay")
    if replayed:
        lines += ["", f"Replay: {replay_line(replayed)}"]
    arrivals = summary.get("arrivals") or {}
    if arrivals.get("scheduled"):
        planned_n, unit = arrivals.get("planned"), arrivals.get("unit", "sessions")
        lines += [
            "",
            f"Arrivals: {'' if planned_n is None else f'{planned_n:g} {unit} planned, '}"
            f"{arrivals['scheduled']} sessions scheduled, {arrivals['dropped']} dropped "
            f"(target {arrivals['target_rate']} {unit}/s, achieved {arrivals['achieved_rate']} {unit}/s)",
        ]
        if arrivals.get("stages"):
            lines += [
                "",
                "| stage | seconds | target /s | achieved /s | planned | scheduled | dropped |",
                "|---:|---|---:|---:|---:|---:|---:|",
                *(
                    f"| {r['stage']} | {stage_span(r)} | {num(r['target_rate'])} | {num(r['achieved_rate'])} "
                    f"| {r['planned']:g} | {r['scheduled']} | {r['dropped']} |"
                    for r in arrivals["stages"]
                ),
            ]
    cut = summary.get("unfinished") or {}
    if cut.get("count"):
        lines += [
            "",
            f"Unfinished at the stop: {cut['count']} request(s) still waiting for an answer: "
            + ", ".join(f"{ep} {e['count']} (up to {e['max_elapsed_s']:g} s)" for ep, e in cut["endpoints"].items()),
        ]
    stalled = summary.get("stall") or {}
    if stalled.get("seconds"):
        lines += ["", f"Stall: for {stalled['seconds']} s requests waited and none was answered"]
    retries = summary.get("retries") or {}
    queue = summary.get("offline_queue") or {}
    if retries.get("total") or any(queue.values()):
        after = ", ".join(f"{kind} {n}" for kind, n in (retries.get("after") or {}).items())
        lines += [
            "",
            f"Client: {retries.get('total', 0)} retries ({retries.get('recovered', 0)} requests recovered"
            f"{'; after ' + after if after else ''}); "
            f"offline queue: {queue.get('requeued', 0)} requeued, {queue.get('dropped', 0)} dropped, "
            f"{queue.get('unsent', 0)} unsent at the end",
        ]
    the_funnel = summary.get("funnel") or {}
    stages = the_funnel.get("stages") or []
    if stages and stages[0]["count"]:
        login = the_funnel.get("login")
        lines += [
            "",
            f"Funnel ({the_funnel.get('counts', 'sessions')}): "
            + " → ".join(
                f"{st['stage']} {st['count']}" + ("" if i == 0 else f" ({_pct(st['conversion'])})")
                for i, st in enumerate(stages)
            )
            + (f"; logged in: {login['count']} ({_pct(login['rate'])} of sessions)" if login else ""),
        ]
    if summary["slo"]:
        lines += ["", "| SLO | threshold | actual | verdict |", "|---|---:|---:|---|"]
        for d in summary["slo"]:
            v = Verdict.from_dict(d)
            lines.append(f"| {v.name} | {v.show(v.threshold)} | {v.show(v.actual)} | {verdict_word(v, summary)} |")
    rec = summary.get("reconciliation")
    if rec is not None:
        lines += ["", "Reconciliation: " + ("OK" if rec["ok"] else "FAILED: " + "; ".join(rec["differences"]))]
        caps = mock_caps(rec)
        if caps:
            lines += ["", "The mock's memory caps: " + "; ".join(caps)]
    rejected = summary.get("expected_rejections") or []
    if rejected:
        lines += ["", "| expected 400 (faulty SDK) | count | the collector's message |", "|---|---:|---|"]
        lines += [f"| {r['fault']} | {r['count']} | {str(r['message'])[:120]} |" for r in rejected]
    said = mock_warnings(summary.get("reconciliation"))
    if said:
        lines += ["", "The mock noticed: " + "; ".join(said)]
    if summary["errors"]:
        lines += ["", "| error | count | first example |", "|---|---:|---|"]
        lines += [f"| {e['kind']} | {e['count']} | {e['example'][:120]} |" for e in summary["errors"]]
    return "\n".join(lines) + "\n"


def default_report_dir(scenario: str, started: float | None = None) -> Path:
    """``reports/<run id>``: the start time (local) and the scenario's name."""
    return Path("reports") / time.strftime(f"%Y%m%d-%H%M%S-{scenario}", time.localtime(started))


def write_summary(report_dir: Path, summary: Mapping[str, Any], stats: RunStats, *, junit: str) -> None:
    """``summary.json``, ``summary.md``, ``junit.xml``, ``stats.json`` (the histograms, to render again)
    and ``report.html``."""
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "junit.xml").write_text(junit, encoding="utf-8")
    write_summary_json(report_dir, summary)
    (report_dir / "summary.md").write_text(summary_markdown(summary), encoding="utf-8")
    (report_dir / "stats.json").write_bytes(orjson.dumps(stats.to_dict()))
    # Last: the data files are written even if drawing the charts goes wrong.
    _write_html(report_dir, summary, stats)


def write_summary_json(report_dir: Path, summary: Mapping[str, Any]) -> None:
    (report_dir / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))


def _write_html(report_dir: Path, summary: Mapping[str, Any], stats: RunStats) -> None:
    from simulator.report.html import render_html

    (report_dir / "report.html").write_text(render_html(summary, stats), encoding="utf-8")


def load_run(run_dir: Path) -> tuple[dict[str, Any], RunStats]:
    """A saved run's ``summary.json`` and ``stats.json``; ``NotARunReport`` says what is missing."""
    if not run_dir.is_dir():
        raise NotARunReport(
            f"{run_dir} is not a directory: give the report directory of a run "
            "(reports/<run id>/ or the --report-dir of loadsim run)"
        )
    from simulator.report.stats import RunStats

    summary = load_summary(run_dir)
    path = run_dir / "stats.json"
    try:
        data = orjson.loads(path.read_bytes())
        stats = RunStats.from_dict(data)
    except FileNotFoundError:
        raise NotARunReport(f"{run_dir} has a summary.json but no stats.json: it cannot be rendered again") from None
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise NotARunReport(f"{path} is not the stats of a loadsim run ({type(exc).__name__}: {exc})") from None
    _check_stats(path, data)
    return summary, stats


def load_summary(run: Path) -> dict[str, Any]:
    """``summary.json`` of a run directory (or the file itself), checked for its schema version."""
    if not run.exists():
        raise NotARunReport(
            f"{run} does not exist: give the report directory of a run (reports/<run id>/ or the "
            "--report-dir of loadsim run), or its summary.json"
        )
    path = run / "summary.json" if run.is_dir() else run
    try:
        summary = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise NotARunReport(
            f"{run} is not a run report: no {path.name} there (give a directory that "
            "loadsim run wrote, e.g. reports/<run id>/)"
        ) from None
    except IsADirectoryError:
        raise NotARunReport(f"{path} is a directory, not a summary.json") from None
    except orjson.JSONDecodeError as exc:
        raise NotARunReport(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(summary, dict) or "schema_version" not in summary:
        raise NotARunReport(f"{path} is not a loadsim summary (no schema_version)")
    if summary["schema_version"] != SCHEMA_VERSION:
        raise NotARunReport(
            f"{path} has schema_version {summary['schema_version']!r}; this loadsim reads "
            f"version {SCHEMA_VERSION}: use the loadsim version that wrote it"
        )
    missing = [k for k in ("scenario", "timing", "total", "endpoints", "steps", "slo") if k not in summary]
    if missing:
        raise NotARunReport(f"{path} lacks {', '.join(missing)}: not a complete loadsim summary")
    _check_rows(path, summary)
    return summary


#: What every row (total, an endpoint, a step) of a summary carries, which compare and render read.
ROW_FIGURES = ("count", "failures", "rps", "p50_ms", "p95_ms", "p99_ms", "max_ms")


def _check_rows(path: Path, summary: Mapping[str, Any]) -> None:
    """Each row complete, so a hand-edited or truncated summary is bad input, not a KeyError later."""
    rows: list[tuple[str, Any]] = [("total", summary["total"])]
    for table in ("endpoints", "steps"):
        if not isinstance(summary[table], dict):
            raise NotARunReport(f"{path}: {table} is not a table of rows: not a complete loadsim summary")
        rows += [(f"{table}.{name}", r) for name, r in summary[table].items()]
    for where, r in rows:
        if not isinstance(r, dict):
            raise NotARunReport(f"{path}: {where} is not a table of figures: not a complete loadsim summary")
        lacking = [k for k in ROW_FIGURES if k not in r]
        if lacking:
            raise NotARunReport(f"{path}: {where} lacks {', '.join(lacking)}: not a complete loadsim summary")
        for k in ROW_FIGURES:
            if isinstance(r[k], bool) or not isinstance(r[k], int | float):
                raise NotARunReport(f"{path}: {where}.{k} is {r[k]!r}, not a number: not a loadsim summary")
        _check_counts(path, where, {k: r[k] for k in ("count", "failures")})


def _check_counts(path: Path, where: str, counts: Mapping[str, Any]) -> None:
    """Counts (``count`` and ``failures`` among them) as a run makes them: none negative, no more failures
    than requests. A hand-edited file that says otherwise is bad input, never a verdict computed from it."""
    for k, v in counts.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise NotARunReport(f"{path}: {where}.{k} is {v!r}, not a number: not what a loadsim run writes")
        if v < 0:
            raise NotARunReport(f"{path}: {where}.{k} is {v!r}, a negative count: not what a loadsim run writes")
    if counts["failures"] > counts["count"]:
        raise NotARunReport(
            f"{path}: {where}.failures is {counts['failures']!r}, more than its {counts['count']!r} requests: "
            "not what a loadsim run writes"
        )


def _check_stats(path: Path, data: Mapping[str, Any]) -> None:
    """Each series' counts (total, an endpoint, a step) and its histograms' counts, as ``stats.json`` has them."""
    series = [("total", data["total"])]
    series += [(f"{table}.{name}", s) for table in ("endpoints", "steps") for name, s in data[table].items()]
    for where, s in series:
        counts = {"count": s["count"], "failures": s["failures"]}
        for h in ("latency", "service"):
            counts[f"{h}.count"] = s[h]["count"]
            counts.update({f"{h}.buckets.{i}": n for i, n in s[h]["buckets"].items()})
        _check_counts(path, where, counts)


def load_run_stats(run: Path) -> RunStats | None:
    """A run's ``stats.json`` (the histograms) if it has one that reads, else None: a summary alone
    still compares, without confidence intervals. Counts no run can have are ``NotARunReport``."""
    from simulator.report.stats import RunStats

    path = (run if run.is_dir() else run.parent) / "stats.json"
    try:
        data = orjson.loads(path.read_bytes())
        stats = RunStats.from_dict(data)
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None
    _check_stats(path, data)
    return stats


#: The differences that only say the mock's stats could not be read (a later, better one replaces them).
UNREAD_MOCK = ("could not read the mock's stats", "is gone (connection refused)")


def fail_reconciliation(run_dir: Path, difference: str) -> None:
    """A reconciliation difference learnt after the report was written (``loadsim run`` sees the mock's
    exit only once Locust has ended): said first, the run FAILED, the files written again."""
    summary = load_summary(run_dir)
    rec = dict(summary.get("reconciliation") or {"endpoints": {}})
    before = [str(d) for d in rec.get("differences") or []]
    rec["differences"] = [difference, *(d for d in before if not any(u in d for u in UNREAD_MOCK))]
    rec["ok"] = False
    summary["reconciliation"] = rec
    for v in summary.get("slo") or []:
        if str(v.get("name", "")).startswith("reconciliation"):
            v["passed"] = v["actual"] = False
    reason = str(summary.get("reason") or "")
    old = next((f"reconciliation: {d}" for d in before if f"reconciliation: {d}" in reason), None)
    new = f"reconciliation: {difference}"
    summary["reason"] = (
        reason.replace(old, new) if old else "; ".join(r for r in (new, reason) if r and r != "every SLO held")
    )
    summary["result"], summary["passed"] = "FAILED", False
    (run_dir / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    render_again(run_dir)


def render_again(run_dir: Path) -> list[Path]:
    """Write ``summary.md``, ``junit.xml`` and ``report.html`` again from the saved data; returns their paths.

    Nothing is re-run or re-measured: the files come out as the run wrote them.
    """
    summary, stats = load_run(run_dir)
    if "funnel" not in summary:  # written before the funnel was part of the summary
        summary["funnel"] = funnel(
            stats.steps, funnel_steps(), devices=stats.funnel.get("devices", 0), reached=stats.funnel
        )
    verdicts = [Verdict.from_dict(v) for v in summary["slo"]]
    timing = summary["timing"]
    junit = junit_xml(
        verdicts,
        suite=summary["scenario"],
        duration_s=timing["ended"] - timing["started"],
        interrupted=interruption(summary),
    )
    paths = [run_dir / "summary.md", run_dir / "junit.xml", run_dir / "report.html"]
    paths[0].write_text(summary_markdown(summary), encoding="utf-8")
    paths[1].write_text(junit, encoding="utf-8")
    _write_html(run_dir, summary, stats)
    return paths
