"""SLO verdicts from a run's measurements, and ``junit.xml`` so a CI system shows each one as a test.

A run passes when every SLO of the scenario's ``[slo]`` table holds. A failed request alone
does not fail a run: an ``error_rate`` SLO says how many are too many.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

if TYPE_CHECKING:  # simulator.loadtest imports this module (through hooks): types only, no cycle
    from simulator.report.stats import RunStats, Series
    from simulator.scenario import SLOConfig

__all__ = ["Verdict", "evaluate", "junit_xml"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """One SLO: what it says, the bound, what the run measured, and whether it held."""

    name: str
    threshold: float | bool
    actual: float | bool | None
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "threshold": self.threshold, "actual": self.actual, "passed": self.passed}

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: actual {self.actual}, threshold {self.threshold}"


def _series(stats: RunStats, endpoint: str, step: str | None) -> Series | None:
    if step is not None:
        return stats.steps.get(step)
    if endpoint == "total":
        return stats.total
    return stats.endpoints.get(endpoint)


def evaluate(
    slo: SLOConfig, *, stats: RunStats, duration_s: float, reconciliation: Mapping[str, Any] | None
) -> list[Verdict]:
    out: list[Verdict] = []
    for lat in slo.latency:
        where = lat.step or lat.endpoint
        name = f"{lat.metric} p{lat.percentile:g} of {where} <= {lat.max_ms:g} ms"
        series = _series(stats, lat.endpoint, lat.step)
        if series is None or series.count == 0:
            out.append(Verdict(name, lat.max_ms, None, False))  # no requests: nothing was shown to hold
            continue
        hist = series.latency if lat.metric == "latency" else series.service
        actual = round(hist.percentile(lat.percentile) * 1000, 3)
        out.append(Verdict(name, lat.max_ms, actual, actual <= lat.max_ms))
    for err in slo.error_rate:
        where = err.step or err.endpoint
        series = _series(stats, err.endpoint, err.step)
        name = f"error rate of {where} <= {err.max:g}"
        if series is None or series.count == 0:
            out.append(Verdict(name, err.max, None, False))  # nothing sent: nothing was shown to hold
            continue
        rate = series.failures / series.count
        out.append(Verdict(name, err.max, round(rate, 6), rate <= err.max))
    if slo.min_rate is not None:
        rate = round(stats.total.count / duration_s, 3) if duration_s > 0 else 0.0
        out.append(Verdict(f"achieved rate >= {slo.min_rate:g} requests/s", slo.min_rate, rate, rate >= slo.min_rate))
    if slo.max_dropped is not None:
        out.append(
            Verdict(
                f"dropped arrivals <= {slo.max_dropped}",
                slo.max_dropped,
                stats.dropped,
                stats.dropped <= slo.max_dropped,
            )
        )
    if slo.reconciliation:
        ok = bool(reconciliation and reconciliation.get("ok"))
        out.append(
            Verdict("reconciliation: nothing lost or duplicated", True, None if reconciliation is None else ok, ok)
        )
    return out


def junit_xml(verdicts: list[Verdict], *, suite: str, duration_s: float) -> str:
    """One ``testcase`` per SLO; a failed one carries actual against threshold."""
    failures = sum(not v.passed for v in verdicts)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites><testsuite name={quoteattr("loadsim " + suite)} tests="{len(verdicts)}" '
        f'failures="{failures}" errors="0" time="{duration_s:.3f}">',
    ]
    for v in verdicts:
        case = f"  <testcase classname={quoteattr('loadsim.slo.' + suite)} name={quoteattr(v.name)}"
        if v.passed:
            lines.append(case + "/>")
        else:
            message = f"actual {v.actual} against threshold {v.threshold}"
            lines.append(f"{case}><failure message={quoteattr(message)}>{escape(str(v))}</failure></testcase>")
    lines.append("</testsuite></testsuites>")
    return "\n".join(lines) + "\n"
