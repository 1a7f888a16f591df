"""``loadsim compare``: two runs' summaries side by side, and a verdict a CI regression gate can use.

Rows are the total, each endpoint and each journey step; figures are p50/p95/p99/max latency,
requests per second and error rate. A run regresses when, in any row:

- a gated latency percentile (p50, p95, p99) grew by more than the threshold AND by more than
  an absolute floor: ``--min-delta`` (default 1 ms) or twice the histograms' resolution (2% of
  the value), whichever is more. Two runs of one configuration on a loopback mock differ by
  10-20% at sub-millisecond latencies (0.600 -> 0.663 ms): relative noise, not a regression.
- and, where both runs' histograms are at hand (``stats.json``), their 95% confidence intervals
  (from the order statistics of each percentile) do not overlap: a difference the samples
  cannot tell from chance is not a regression. The intervals are shown beside the figures.
- A percentile is gated only when both runs have at least ``MIN_TAIL`` requests above it (p95
  needs 1,000 requests, p99 5,000): below that it is one or two samples. Max is shown, never gated: it is a
  single request.
- the error rate grew by more than the threshold plus a slack of one request or 0.1% of the
  requests, whichever is more: a single transient error never fails the gate.

Requests per second are shown, not gated: they follow the load asked for. A run that sent no
request fails the comparison whatever its rows say (nothing was measured), and a row only one run
has is named in a warning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simulator.report.histogram import ERROR

if TYPE_CHECKING:
    from simulator.report.histogram import Histogram
    from simulator.report.stats import RunStats, Series

__all__ = [
    "ERROR_SLACK",
    "GATED",
    "MIN_TAIL",
    "Change",
    "Comparison",
    "compare",
    "format_comparison",
    "parse_regression",
]

#: Latency percentiles the gate checks: summary key, percentile.
GATED: tuple[tuple[str, float], ...] = (("p50_ms", 50.0), ("p95_ms", 95.0), ("p99_ms", 99.0))
#: Requests above a percentile each run needs for that percentile to be gated: fewer, and one
#: scheduling hiccup of a shared CI host moves it (a p95 of 360 requests doubled between two runs
#: of one configuration).
MIN_TAIL = 50
#: Error rate slack (share of requests) on top of the threshold; at least one request.
ERROR_SLACK = 0.001
#: The smallest latency growth (ms) that can be a regression, unless --min-delta says otherwise.
MIN_DELTA_MS = 1.0
#: z of the two-sided 95% confidence interval of a percentile.
Z95 = 1.96
_ENDPOINT_ORDER = {"externalIds": 0, "identify": 1, "events": 2}
#: Regressions named on the verdict line; the table shows them all.
VERDICT_NAMES = 6
#: Figures in the table: summary key, label.
FIGURES: tuple[tuple[str, str], ...] = (
    ("p50_ms", "p50 ms"),
    ("p95_ms", "p95 ms"),
    ("p99_ms", "p99 ms"),
    ("max_ms", "max ms"),
    ("rps", "req/s"),
    ("error_rate", "error rate"),
)


def parse_regression(text: str) -> float:
    """``10%`` or ``0.1`` -> 0.1. A bare number of 1 or more is ambiguous (10 = 10%? 1000%?) and refused."""
    s = text.strip()
    try:
        if s.endswith("%"):
            value = float(s[:-1]) / 100
        else:
            value = float(s)
            if 1 <= value < math.inf:  # inf is no share either way: refused below
                raise ValueError(f"--max-regression {text!r} is ambiguous: write {s}% or {value / 100:g}")
    except ValueError as exc:
        if "ambiguous" in str(exc):
            raise
        raise ValueError(f"--max-regression {text!r} is not a share: write e.g. 10% or 0.1") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"--max-regression {text!r} must be a finite share of 0 or more, e.g. 10% or 0.1")
    return value


@dataclass(frozen=True, slots=True)
class Change:
    """One figure of one row in both runs."""

    row: str
    figure: str
    base: float | None
    new: float | None
    #: Relative change (0.25 = +25%); None when the base is 0 or a run lacks the row.
    relative: float | None
    gated: bool
    regressed: bool
    note: str = ""
    #: 95% confidence intervals (ms) of a percentile in each run, when the histograms are at hand.
    base_ci: tuple[float, float] | None = None
    new_ci: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    base: str
    new: str
    max_regression: float
    min_delta_ms: float = MIN_DELTA_MS
    changes: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    #: The runs (by name) that sent no request: a comparison with one cannot pass.
    empty: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.regressed]

    @property
    def failed(self) -> bool:
        return bool(self.regressions or self.empty)


def _rows(summary: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The total, the endpoints in the order a session meets them, then the journey steps."""
    rows: dict[str, Mapping[str, Any]] = {"total": summary["total"]}
    endpoints = summary.get("endpoints") or {}
    for name in sorted(endpoints, key=lambda n: (_ENDPOINT_ORDER.get(n, len(_ENDPOINT_ORDER)), n)):
        rows[name] = endpoints[name]
    for name, row in sorted((summary.get("steps") or {}).items()):
        rows.setdefault(name, row)  # the steps externalIds and identify are their endpoints
    return rows


def _error_rate(row: Mapping[str, Any]) -> float:
    return row["failures"] / row["count"] if row["count"] else 0.0


def _relative(base: float, new: float) -> float | None:
    return (new - base) / base if base else None


def interval(hist: Histogram, p: float) -> tuple[float, float] | None:
    """The 95% confidence interval (ms) of percentile ``p`` of ``hist``: the values at the ranks
    ``n p/100 +- 1.96 sqrt(n p/100 (1 - p/100))`` (order statistics, normal approximation)."""
    n = hist.count
    if n < 2:
        return None
    q = p / 100
    spread = Z95 * math.sqrt(n * q * (1 - q))
    lo = max(0.0, (n * q - spread) / n * 100)
    hi = min(100.0, (n * q + spread) / n * 100)
    return round(hist.percentile(lo) * 1000, 3), round(hist.percentile(hi) * 1000, 3)


def _series(stats: RunStats | None, row: str) -> Series | None:
    if stats is None:
        return None
    if row == "total":
        return stats.total
    return stats.endpoints.get(row) or stats.steps.get(row)


def compare(
    base: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    max_regression: float,
    min_delta_ms: float = MIN_DELTA_MS,
    base_name: str = "base",
    new_name: str = "new",
    base_stats: RunStats | None = None,
    new_stats: RunStats | None = None,
) -> Comparison:
    """Every figure of every row both runs share; rows only one run has are listed, never gated.

    ``base_stats`` and ``new_stats`` (the runs' ``stats.json``) give each percentile its confidence
    interval; without them the threshold and the floor decide alone.
    """
    out = Comparison(base_name, new_name, max_regression, min_delta_ms)
    for key, label in (("scenario", "scenarios"), ("load_model", "load models"), ("workers", "worker counts")):
        if base.get(key) != new.get(key):
            out.warnings.append(
                f"the runs' {label} differ ({base.get(key)} against {new.get(key)}): "
                "the comparison may not be like for like"
            )
    for name, summary in ((base_name, base), (new_name, new)):
        if summary.get("interrupted"):
            timing = summary.get("timing") or {}
            ran, planned = timing.get("duration_s"), timing.get("planned_s")
            after = f" after {ran:g} s" if isinstance(ran, (int, float)) else ""
            if after and isinstance(planned, (int, float)):
                after += f" of {planned:g} s planned"
            out.warnings.append(f"{name} was interrupted{after}: its figures cover part of its plan")
        if (summary.get("generator") or {}).get("saturated"):
            out.warnings.append(
                f"the load generator of {name} was saturated: its latency figures include its own queueing"
            )
    # Nothing measured compares as "no regression" on every row: not a pass.
    out.empty.extend(name for name, summary in ((base_name, base), (new_name, new)) if not summary["total"]["count"])
    b_rows, n_rows = _rows(base), _rows(new)
    for name, rows, other in ((new_name, n_rows, b_rows), (base_name, b_rows, n_rows)):
        gone = [row for row in other if row not in rows]
        # A row one run never sent is named beside the verdict, not only in the table.
        if gone and name not in out.empty:
            out.warnings.append(
                f"{', '.join(gone)} {'is' if len(gone) == 1 else 'are'} missing from {name}: not compared"
            )
    order = list(b_rows) + [k for k in n_rows if k not in b_rows]
    for name in order:
        b, n = b_rows.get(name), n_rows.get(name)
        if b is None or n is None:
            out.changes.append(
                Change(
                    name,
                    "requests",
                    None if b is None else b["count"],
                    None if n is None else n["count"],
                    None,
                    False,
                    False,
                    "only in " + (new_name if b is None else base_name),
                )
            )
            continue
        for key, label in FIGURES:
            if key == "error_rate":
                out.changes.append(_error_change(name, b, n, max_regression))
                continue
            bv, nv = float(b[key]), float(n[key])
            rel = _relative(bv, nv)
            gated, note = False, ""
            b_ci = n_ci = None
            for gkey, p in GATED:
                if gkey == key:
                    tail = min(b["count"], n["count"]) * (1 - p / 100)
                    gated = tail >= MIN_TAIL - 1e-9
                    if not gated:
                        note = f"not gated: under {MIN_TAIL} requests above p{p:g}"
                    bs, ns = _series(base_stats, name), _series(new_stats, name)
                    b_ci = interval(bs.latency, p) if bs is not None else None
                    n_ci = interval(ns.latency, p) if ns is not None else None
            regressed = gated and nv > bv * (1 + max_regression) + 1e-9
            if regressed:
                floor = max(min_delta_ms, 2 * ERROR * max(bv, nv))
                if nv - bv <= floor:
                    regressed, note = False, f"within noise: +{nv - bv:.3f} ms, under the {floor:.3g} ms floor"
                elif b_ci is not None and n_ci is not None and n_ci[0] <= b_ci[1]:
                    regressed, note = False, "within noise: the 95% intervals overlap"
            out.changes.append(Change(name, label, bv, nv, rel, gated, regressed, note, b_ci, n_ci))
    return out


def _error_change(name: str, b: Mapping[str, Any], n: Mapping[str, Any], threshold: float) -> Change:
    br, nr = _error_rate(b), _error_rate(n)
    slack = max(1 / n["count"], ERROR_SLACK) if n["count"] else 0.0
    regressed = n["count"] > 0 and nr > br * (1 + threshold) + slack + 1e-12
    return Change(name, "error rate", br, nr, _relative(br, nr), bool(n["count"]), regressed)


def _value(figure: str, v: float | None, ci: tuple[float, float] | None = None) -> str:
    if v is None:
        return "–"
    if ci is not None:
        return f"{_value(figure, v)} [{_value(figure, ci[0])}-{_value(figure, ci[1])}]"
    if figure == "error rate":
        return f"{v * 100:.2f}%"
    if figure in ("req/s", "requests"):
        return f"{v:,.1f}" if isinstance(v, float) else f"{v:,}"
    return f"{v:,.3f}" if v < 10 else f"{v:,.1f}"


def _change(c: Change) -> str:
    if c.base is None or c.new is None:
        return ""
    if c.figure == "error rate":
        return f"{(c.new - c.base) * 100:+.2f} pp"
    if c.relative is None:
        return "0%" if c.new == c.base else "new"
    return f"{c.relative * 100:+.1f}%"


def format_comparison(cmp: Comparison) -> str:
    """A plain-text table (rows per endpoint and step, one line a figure) and a verdict line."""
    head = ("name", "figure", cmp.base, cmp.new, "change", "")
    lines: list[tuple[str, ...]] = []
    last = ""
    for c in cmp.changes:
        verdict = "REGRESSION" if c.regressed else c.note
        lines.append(
            (
                c.row if c.row != last else "",
                c.figure,
                _value(c.figure, c.base, c.base_ci),
                _value(c.figure, c.new, c.new_ci),
                _change(c),
                verdict,
            )
        )
        last = c.row
    widths = [max(len(r[i]) for r in (head, *lines)) for i in range(len(head))]
    right = {2, 3, 4}

    def fmt(r: tuple[str, ...]) -> str:
        return "  ".join(
            v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()

    out = [fmt(head), "  ".join("-" * w for w in widths).rstrip()]
    for r in lines:
        if r[0] and len(out) > 2:
            out.append("")
        out.append(fmt(r))
    out.append("")
    out += [f"warning: {w}" for w in cmp.warnings]
    threshold = f"{cmp.max_regression * 100:g}% (and {cmp.min_delta_ms:g} ms)"
    if any(c.base_ci for c in cmp.changes):
        out.append("[low-high]: the 95% confidence interval of a percentile, from its run's histogram")
    if cmp.empty:
        who = " and ".join(cmp.empty)
        out.append(f"compare: FAILED: {who} sent no requests: a run that measured nothing cannot pass")
    elif cmp.regressions:
        named = cmp.regressions[:VERDICT_NAMES]
        worst = ", ".join(f"{c.row} {c.figure} {_change(c)}" for c in named)
        if len(cmp.regressions) > len(named):
            worst += f" and {len(cmp.regressions) - len(named)} more"
        out.append(f"compare: {len(cmp.regressions)} regression(s) beyond {threshold}: {worst}")
    else:
        out.append(f"compare: no regression beyond {threshold}")
    return "\n".join(out) + "\n"
