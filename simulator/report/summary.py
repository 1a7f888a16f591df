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
from simulator.report.slo import Verdict, junit_xml
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
]

SCHEMA_VERSION = 1

#: The journey funnel: stage -> the journey action whose successful requests count it
#: (``externalIds`` and ``identify`` are steps of their own; the others are ``event:<name>``).
FUNNEL: tuple[tuple[str, str], ...] = (
    ("sessions", "externalIds"),
    ("identified", "identify"),
    ("added to cart", "add_to_cart"),
    ("purchased", "purchase"),
)


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
    for stage, action in FUNNEL:
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
    """Sessions per funnel stage, with conversion from sessions and from the stage before.

    ``reached`` counts the sessions in which a stage's request succeeded (the load runner keeps
    it); without it (a report of an older run) the counts are successful requests, so a session
    that adds to cart twice counts twice. Successful means neither a failure nor an expected
    rejection (a faulty SDK's 400).
    """
    per_session = reached is not None and "sessions" in reached
    stages: list[dict[str, Any]] = []
    for stage, names in stage_steps.items():
        if per_session:
            n = int(reached.get(stage, 0))  # type: ignore[union-attr]  # per_session: reached is a dict
        else:
            n = sum(s.count - s.failures - s.expected_rejections for k in names if (s := steps.get(k)) is not None)
        stages.append({"stage": stage, "steps": list(names), "count": n})
    first = stages[0]["count"] if stages else 0
    for i, st in enumerate(stages):
        st["conversion"] = _ratio(st["count"], first)
        st["from_previous"] = _ratio(st["count"], stages[i - 1]["count"]) if i else None
    return {"devices": devices, "counts": "sessions" if per_session else "requests", "stages": stages}


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
    exhausted: bool = False,
    verdicts: Sequence[Verdict] = (),
    cpu_samples: Sequence[float] = (),
    saturated_at: float = 90.0,
    journey: JourneyConfig | None = None,
) -> dict[str, Any]:
    """The run's verdict: ``passed`` is false when an SLO failed or reconciliation found a difference.

    ``journey`` (the scenario's) names the funnel's events; without it the default names count.
    """
    seconds = max(ended - started, 1e-9)
    reconciled = reconciliation is None or bool(reconciliation.get("ok"))
    return {
        "schema_version": SCHEMA_VERSION,
        "scenario": scenario,
        "seed": seed,
        "target": dict(target),
        "load_model": model,
        "timing": {"started": started, "ended": ended, "duration_s": round(seconds, 3)},
        "workers": workers,
        "total": _row(stats.total, seconds),
        "endpoints": {k: _row(s, seconds) for k, s in sorted(stats.endpoints.items())},
        "steps": {k: _row(s, seconds) for k, s in sorted(stats.steps.items())},
        "errors": [
            {"kind": k, "count": e["count"], "example": e["example"]}
            for k, e in sorted(stats.errors.items(), key=lambda kv: -kv[1]["count"])
        ],
        "arrivals": {
            "scheduled": stats.arrivals,
            "dropped": stats.dropped,
            "target_rate": target_rate,
            "achieved_rate": None if stats.achieved_rate is None else round(stats.achieved_rate, 3),
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
            # Saturated when at least a tenth of the samples reached the threshold: then latency
            # figures include the generator's own queueing.
            "saturated": sum(c >= saturated_at for c in cpu_samples) * 10 >= max(len(cpu_samples), 1)
            and bool(cpu_samples),
        },
        "population_exhausted": exhausted,
        "reconciliation": dict(reconciliation) if reconciliation is not None else None,
        "slo": [v.to_dict() for v in verdicts],
        "passed": reconciled and all(v.passed for v in verdicts),
        "versions": _versions(),
    }


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.1f}%"


def _md(summary: Mapping[str, Any]) -> str:
    lines = [
        f"### loadsim: {summary['scenario']} ({summary['load_model']} model, "
        f"{summary['timing']['duration_s']:.0f} s, {summary['workers']} worker(s)): "
        f"{'PASSED' if summary['passed'] else 'FAILED'}",
        "",
        "| name | requests | failures | expected 400s | req/s | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    if summary["generator"]["saturated"]:
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
    arrivals = summary.get("arrivals") or {}
    if arrivals.get("scheduled"):
        lines += [
            "",
            f"Arrivals: {arrivals['scheduled']} scheduled, {arrivals['dropped']} dropped "
            f"(target {arrivals['target_rate']}/s, achieved {arrivals['achieved_rate']}/s)",
        ]
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
    stages = (summary.get("funnel") or {}).get("stages") or []
    if stages and stages[0]["count"]:
        lines += [
            "",
            "Funnel: "
            + " → ".join(
                f"{st['stage']} {st['count']}" + ("" if i == 0 else f" ({_pct(st['conversion'])})")
                for i, st in enumerate(stages)
            ),
        ]
    if summary["slo"]:
        lines += ["", "| SLO | threshold | actual | verdict |", "|---|---:|---:|---|"]
        lines += [
            f"| {v['name']} | {v['threshold']} | {v['actual']} | {'pass' if v['passed'] else '**FAIL**'} |"
            for v in summary["slo"]
        ]
    rec = summary.get("reconciliation")
    if rec is not None:
        lines += ["", "Reconciliation: " + ("OK" if rec["ok"] else "FAILED: " + "; ".join(rec["differences"]))]
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
    (report_dir / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    (report_dir / "summary.md").write_text(_md(summary), encoding="utf-8")
    (report_dir / "stats.json").write_bytes(orjson.dumps(stats.to_dict()))
    # Last: the data files are written even if drawing the charts goes wrong.
    _write_html(report_dir, summary, stats)


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
        stats = RunStats.from_dict(orjson.loads(path.read_bytes()))
    except FileNotFoundError:
        raise NotARunReport(f"{run_dir} has a summary.json but no stats.json: it cannot be rendered again") from None
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise NotARunReport(f"{path} is not the stats of a loadsim run ({type(exc).__name__}: {exc})") from None
    return summary, stats


def load_summary(run: Path) -> dict[str, Any]:
    """``summary.json`` of a run directory (or the file itself), checked for its schema version."""
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
    return summary


def render_again(run_dir: Path) -> list[Path]:
    """Write ``summary.md``, ``junit.xml`` and ``report.html`` again from the saved data; returns their paths.

    Nothing is re-run or re-measured: the files come out as the run wrote them.
    """
    summary, stats = load_run(run_dir)
    if "funnel" not in summary:  # written before the funnel was part of the summary
        summary["funnel"] = funnel(
            stats.steps, funnel_steps(), devices=stats.funnel.get("devices", 0), reached=stats.funnel
        )
    verdicts = [Verdict(v["name"], v["threshold"], v["actual"], v["passed"]) for v in summary["slo"]]
    timing = summary["timing"]
    junit = junit_xml(verdicts, suite=summary["scenario"], duration_s=timing["ended"] - timing["started"])
    paths = [run_dir / "summary.md", run_dir / "junit.xml", run_dir / "report.html"]
    paths[0].write_text(_md(summary), encoding="utf-8")
    paths[1].write_text(junit, encoding="utf-8")
    _write_html(run_dir, summary, stats)
    return paths
