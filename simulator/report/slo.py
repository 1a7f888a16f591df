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

__all__ = [
    "Plan",
    "Verdict",
    "completion",
    "evaluate",
    "failed",
    "handed",
    "junit_xml",
    "longest_wait",
    "unmeasured",
    "verdict_word",
]


@dataclass(frozen=True, slots=True)
class Verdict:
    """One SLO: what it says, the bound, what the run measured (in ``unit``), and whether it held."""

    name: str
    threshold: float | bool
    actual: float | bool | None
    passed: bool
    #: The unit of threshold and actual: "ms", "s", "%", "requests/s" or "" (a yes/no or a count).
    unit: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "threshold": self.threshold,
            "actual": self.actual,
            "unit": self.unit,
            "passed": self.passed,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Verdict:
        return cls(d["name"], d["threshold"], d["actual"], d["passed"], d.get("unit", ""))

    def show(self, value: float | bool | None) -> str:
        """A threshold or an actual with its unit: ``250 ms``, ``90%``, ``no requests``."""
        if value is None:
            return "no requests to measure"
        if isinstance(value, bool):
            return "yes" if value else "no"
        number = f"{value:g}"
        bound = self.threshold
        if value != bound and not isinstance(bound, bool) and number == f"{bound:g}":
            number = repr(float(value))  # 250.0004 against 250: as measured, never as the bound
        if not self.unit:
            return number
        return f"{number}{self.unit}" if self.unit == "%" else f"{number} {self.unit}"

    @property
    def reason(self) -> str:
        """One line: the SLO and what the run measured."""
        return f"{self.name}: actual {self.show(self.actual)}"

    @property
    def measured(self) -> str:
        """What the run measured against the bound: ``actual 2.5 ms, threshold 250 ms``."""
        return f"actual {self.show(self.actual)}, threshold {self.show(self.threshold)}"

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.measured}"


def unmeasured(v: Verdict) -> bool:
    """An SLO the run had nothing to judge by (no request answered). A run that ran its time fails it:
    nothing was shown to hold. An interrupted one (stopped as its users started) has not failed it so
    far: it is reported "not measured", and the run INTERRUPTED rather than FAILED."""
    return v.actual is None and not v.passed


def failed(v: Verdict, *, interrupted: bool) -> bool:
    """The SLO fails the run: it did not hold, and was measured or the run ran its time."""
    return not v.passed and not (interrupted and unmeasured(v))


def verdict_word(v: Verdict, summary: Mapping[str, Any], *, markdown: bool = True) -> str:
    """An SLO's verdict in the report: pass, FAIL (in bold, as ``markdown``), or, in an interrupted run,
    not measured (``unmeasured``)."""
    if v.passed:
        return "pass"
    if failed(v, interrupted=bool(summary.get("interrupted"))):
        return "**FAIL**" if markdown else "FAIL"
    return "not measured"


@dataclass(frozen=True, slots=True)
class Plan:
    """What the run set out to do, for the completion SLOs."""

    #: Open model: the arrivals the stages planned over the arrival window (in ``rate_unit``).
    arrivals: float | None = None
    #: Open model: ``"sessions"`` or ``"requests"``, what an arrival is.
    rate_unit: str = "sessions"
    #: Open model: the planned arrivals per second over the same window (the report's target rate).
    rate: float | None = None
    #: Open model: the arrivals handed to users (in ``rate_unit``) per second over the same window.
    achieved: float | None = None


def _series(stats: RunStats, endpoint: str, step: str | None) -> Series | None:
    if step is not None:
        return stats.steps.get(step)
    if endpoint == "total":
        return stats.total
    return stats.endpoints.get(endpoint)


def evaluate(
    slo: SLOConfig,
    *,
    stats: RunStats,
    duration_s: float,
    reconciliation: Mapping[str, Any] | None,
    plan: Plan | None = None,
) -> list[Verdict]:
    out: list[Verdict] = []
    for lat in slo.latency:
        where = lat.step or lat.endpoint
        name = f"{lat.metric} p{lat.percentile:g} of {where} <= {lat.max_ms:g} ms"
        series = _series(stats, lat.endpoint, lat.step)
        if series is None or series.count == 0:
            out.append(Verdict(name, lat.max_ms, None, False, "ms"))  # no requests: nothing was shown to hold
            continue
        hist = series.latency if lat.metric == "latency" else series.service
        out.append(_judged(name, lat.max_ms, hist.percentile(lat.percentile) * 1000, 3, at_most=True, unit="ms"))
    for err in slo.error_rate:
        where = err.step or err.endpoint
        series = _series(stats, err.endpoint, err.step)
        most = round(err.max * 100, 4)
        name = f"error rate of {where} <= {most:g}%"
        if series is None or series.count == 0:
            out.append(Verdict(name, most, None, False, "%"))  # nothing sent: nothing was shown to hold
            continue
        rate = series.failures / series.count
        # Judged in shares (0.07 * 100 is not 7 in floats), shown in percent.
        out.append(_judged(name, most, rate * 100, 4, at_most=True, unit="%", passed=rate <= err.max))
    if slo.min_rate is not None:
        rate = stats.total.count / duration_s if duration_s > 0 else 0.0
        name = f"achieved rate >= {slo.min_rate:g} requests/s"
        out.append(_judged(name, slo.min_rate, rate, 3, at_most=False, unit="requests/s"))
    if slo.max_dropped is not None:
        out.append(
            Verdict(
                f"dropped arrivals <= {slo.max_dropped}",
                slo.max_dropped,
                stats.dropped,
                stats.dropped <= slo.max_dropped,
            )
        )
    if slo.completion:
        out += completion(slo, stats=stats, plan=plan or Plan())
    if slo.reconciliation or (slo.reconciliation is None and reconciliation is not None):
        ok = bool(reconciliation and reconciliation.get("ok"))
        out.append(
            Verdict("reconciliation: nothing lost or duplicated", True, None if reconciliation is None else ok, ok)
        )
    return out


def longest_wait(stats: RunStats) -> float:
    """The longest any one attempt waited for its answer: answered, failed, or unanswered at the stop."""
    waits = [*stats.longest_wait.values(), *(w for ws in stats.unfinished.values() for w in ws)]
    return max(waits, default=0.0)


def completion(slo: SLOConfig, *, stats: RunStats, plan: Plan) -> list[Verdict]:
    """Did the target keep up? A target that stops answering must fail the run, not just send less.

    - no attempt waited longer than ``max_wait`` (a freeze, held requests, a target that hangs);
    - open model: the arrivals handed to users reached ``min_rate_share`` of the plan, and those
      dropped for want of a free user stayed under ``max_dropped_share``.
    """
    name = f"no request unanswered for more than {slo.max_wait:g} s"
    out = [_judged(name, slo.max_wait, longest_wait(stats), 3, at_most=True, unit="s")]
    if plan.arrivals is not None and plan.arrivals > 0:
        share, want = min(handed(stats, plan.rate_unit) / plan.arrivals, 1.0) * 100, round(slo.min_rate_share * 100, 1)
        out.append(_judged(f"achieved rate >= {want:g}% of the planned rate", want, share, 1, at_most=False, unit="%"))
    if stats.arrivals:
        dropped, most = stats.dropped / stats.arrivals * 100, round(slo.max_dropped_share * 100, 2)
        out.append(_judged(f"dropped arrivals <= {most:g}% of arrivals", most, dropped, 2, at_most=True, unit="%"))
    return out


def handed(stats: RunStats, rate_unit: str) -> int:
    """Open model: what was handed to users, in the plan's unit: requests sent, or sessions not dropped."""
    return stats.total.count if rate_unit == "requests" else stats.arrivals - stats.dropped


def _judged(
    name: str, bound: float, exact: float, digits: int, *, at_most: bool, unit: str, passed: bool | None = None
) -> Verdict:
    """An SLO judged on the measurement as it is (or ``passed``, judged by the caller), shown rounded
    to ``digits``; unrounded where the rounding would read as the other verdict (89.96% shown as 90%
    failing ">= 90%")."""

    def holds(value: float) -> bool:
        return value <= bound if at_most else value >= bound

    held = holds(exact) if passed is None else passed
    shown = round(exact, digits)
    return Verdict(name, bound, shown if holds(shown) == held else exact, held, unit)


def junit_xml(verdicts: list[Verdict], *, suite: str, duration_s: float, interrupted: str = "") -> str:
    """One ``testcase`` per SLO; a failed one carries actual against threshold.

    An interrupted run (``interrupted`` says how: "INTERRUPTED after 10 s of 60 s planned") adds a
    ``run completed its planned time`` case in error, so a CI system never shows it as a full pass.
    """
    failures = sum(failed(v, interrupted=bool(interrupted)) for v in verdicts)
    skipped = sum(not v.passed for v in verdicts) - failures
    errors = 1 if interrupted else 0
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites><testsuite name={quoteattr("loadsim " + suite)} tests="{len(verdicts) + errors}" '
        f'failures="{failures}" errors="{errors}" skipped="{skipped}" time="{duration_s:.3f}">',
    ]
    if interrupted:
        case = f'  <testcase classname={quoteattr("loadsim.run." + suite)} name="run completed its planned time"'
        lines.append(f"{case}><error message={quoteattr(interrupted)}>{escape(interrupted)}</error></testcase>")
    for v in verdicts:
        case = f"  <testcase classname={quoteattr('loadsim.slo.' + suite)} name={quoteattr(v.name)}"
        if v.passed:
            lines.append(case + "/>")
        elif not failed(v, interrupted=bool(interrupted)):
            lines.append(f'{case}><skipped message="not measured: interrupted, nothing to judge by"/></testcase>')
        else:
            message = f"actual {v.show(v.actual)} against threshold {v.show(v.threshold)}"
            lines.append(f"{case}><failure message={quoteattr(message)}>{escape(str(v))}</failure></testcase>")
    lines.append("</testsuite></testsuites>")
    return "\n".join(lines) + "\n"
