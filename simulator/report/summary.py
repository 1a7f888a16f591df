"""``summary.json`` and ``summary.md``: the harness's verdict on a run, versioned for CI tools."""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from simulator.loadtest.stats import RunStats, Series
from simulator.report.slo import Verdict

__all__ = ["SCHEMA_VERSION", "build_summary", "write_summary"]

SCHEMA_VERSION = 1


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


def build_summary(*, stats: RunStats, scenario: str, seed: int, target: Mapping[str, str], model: str,
                  started: float, ended: float, workers: int, reconciliation: Mapping[str, Any] | None,
                  target_rate: float | None = None, exhausted: bool = False,
                  verdicts: Sequence[Verdict] = (), cpu_samples: Sequence[float] = (),
                  saturated_at: float = 90.0) -> dict[str, Any]:
    """The run's verdict: ``passed`` is false when an SLO failed or reconciliation found a difference."""
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
        "errors": [{"kind": k, "count": e["count"], "example": e["example"]}
                   for k, e in sorted(stats.errors.items(), key=lambda kv: -kv[1]["count"])],
        "arrivals": {"scheduled": stats.arrivals, "dropped": stats.dropped,
                     "target_rate": target_rate,
                     "achieved_rate": None if stats.achieved_rate is None else round(stats.achieved_rate, 3)},
        "devices_started": stats.funnel.get("devices", 0),
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
        lines[1:1] = ["", f"**The load generator was saturated (CPU up to {summary['generator']['max_cpu_percent']}%): "
                      "latency figures include its own queueing. Add --processes or workers.**"]
    steps = [(k, v) for k, v in summary["steps"].items() if k not in summary["endpoints"]]
    rows = [*summary["endpoints"].items(), *steps, ("total", summary["total"])]
    for name, r in rows:
        lines.append(f"| {name} | {r['count']} | {r['failures']} | {r['expected_rejections']} | {r['rps']:.1f} "
                     f"| {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} |")
    if summary["slo"]:
        lines += ["", "| SLO | threshold | actual | verdict |", "|---|---:|---:|---|"]
        lines += [f"| {v['name']} | {v['threshold']} | {v['actual']} | {'pass' if v['passed'] else '**FAIL**'} |"
                  for v in summary["slo"]]
    rec = summary.get("reconciliation")
    if rec is not None:
        lines += ["", "Reconciliation: " + ("OK" if rec["ok"] else "FAILED: " + "; ".join(rec["differences"]))]
    if summary["errors"]:
        lines += ["", "| error | count | first example |", "|---|---:|---|"]
        lines += [f"| {e['kind']} | {e['count']} | {e['example'][:120]} |" for e in summary["errors"]]
    return "\n".join(lines) + "\n"


def write_summary(report_dir: Path, summary: Mapping[str, Any], stats: RunStats, *, junit: str) -> None:
    """``summary.json``, ``summary.md``, ``junit.xml`` and ``stats.json`` (the histograms, to render again)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "junit.xml").write_text(junit, encoding="utf-8")
    (report_dir / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    (report_dir / "summary.md").write_text(_md(summary), encoding="utf-8")
    (report_dir / "stats.json").write_bytes(orjson.dumps(stats.to_dict()))
