"""The report's charts: SVG drawn in Python (series over time, the latency distribution), and the
colours that keep an endpoint the same in every chart."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from simulator.contract import ENDPOINT_NAMES
from simulator.report import format as fmt
from simulator.report.histogram import bucket_value

__all__ = [
    "DISTRIBUTION_BARS",
    "ENDPOINT_COLOURS",
    "EXTRA_COLOURS",
    "TOTAL",
    "Ids",
    "Line",
    "colour",
    "distribution_chart",
    "legend",
    "order",
    "time_chart",
]

TOTAL = "total"
#: An endpoint keeps its colour in every chart; endpoints not listed take the extra colours in turn.
ENDPOINT_COLOURS: dict[str, str] = {
    "externalIds": "#2563eb",
    "identify": "#9333ea",
    "events": "#ea580c",
    TOTAL: "#1f2937",
}
EXTRA_COLOURS: tuple[str, ...] = ("#0d9488", "#db2777", "#65a30d", "#0891b2", "#b45309")

#: Most bars in the latency distribution; neighbouring histogram buckets are added up to fit.
DISTRIBUTION_BARS = 60
_GROWTH = bucket_value(1) / bucket_value(0)


# --- colours ------------------------------------------------------------------------------------


def colour(name: str, order: Sequence[str]) -> str:
    if name in ENDPOINT_COLOURS:
        return ENDPOINT_COLOURS[name]
    extra = [n for n in order if n not in ENDPOINT_COLOURS]
    return EXTRA_COLOURS[extra.index(name) % len(EXTRA_COLOURS)] if name in extra else EXTRA_COLOURS[0]


def order(names: Sequence[str]) -> list[str]:
    """Endpoints in the order a session meets them, then any others, then the total."""
    known = [n for n in ENDPOINT_NAMES if n in names]
    return known + sorted(n for n in names if n not in known and n != TOTAL) + ([TOTAL] if TOTAL in names else [])


# --- charts -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    """One series of a chart over time: a value per slice, ``None`` where there is nothing to show."""

    label: str
    colour: str
    values: Sequence[float | None]
    width: float = 1.8


class Ids:
    """Chart ids unique within a page, so the legend buttons find their chart."""

    def __init__(self) -> None:
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return f"chart{self.n}"


W, H = 1100, 250
ML, MR, MT, MB = 64, 18, 12, 34


def legend(chart_id: str, lines: Sequence[Line]) -> str:
    keys = "".join(
        f'<button type="button" class="key" data-chart="{chart_id}" data-series="{i}" title="show or hide">'
        f'<i style="background:{ln.colour}"></i>{escape(ln.label)}</button>'
        for i, ln in enumerate(lines)
    )
    return f'<div class="legend">{keys}</div>'


def time_chart(
    ids: Ids,
    xs: Sequence[float],
    end: float,
    lines: Sequence[Line],
    *,
    unit: str,
    log: bool = False,
    stacked: bool = False,
    width: int = W,
    height: int = H,
) -> str:
    """A chart over the run's time: a line per series (or bars stacked), one hover target per slice."""
    chart_id = ids.next()
    pw, ph = width - ML - MR, height - MT - MB
    values = [v for ln in lines for v in ln.values if v is not None]
    if log:
        positive = [v for v in values if v > 0] or [1.0]
        yt = fmt.log_ticks(min(positive), max(positive))
        lo, hi = math.log10(yt[0]), math.log10(yt[-1])

        def y(v: float) -> float:
            return MT + ph - (math.log10(max(v, yt[0])) - lo) / (hi - lo) * ph
    else:
        tops = [sum(ln.values[j] or 0.0 for ln in lines) for j in range(len(xs))] if stacked else values
        yt = fmt.nice_ticks(max(tops, default=0.0))

        def y(v: float) -> float:
            return MT + ph - v / yt[-1] * ph

    end = max(end, 1e-9)

    def x(t: float) -> float:
        return ML + min(max(t, 0.0), end) / end * pw

    out = [f'<svg id="{chart_id}" viewBox="0 0 {width} {height}" role="img" class="chart">']
    for t in yt:
        out.append(
            f'<line class="grid" x1="{ML}" x2="{ML + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>'
            f'<text class="ylab" x="{ML - 6}" y="{y(t) + 4:.1f}">{fmt.tick_label(t)}</text>'
        )
    for t in fmt.time_ticks(end):
        out.append(
            f'<line class="tick" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{MT + ph}" y2="{MT + ph + 4}"/>'
            f'<text class="xlab" x="{x(t):.1f}" y="{MT + ph + 18}">{fmt.clock(t)}</text>'
        )
    out.append(f'<text class="unit" x="2" y="{MT + ph + 30}">{escape(unit)}</text>')
    out.append(f'<line class="axis" x1="{ML}" x2="{ML + pw}" y1="{MT + ph}" y2="{MT + ph}"/>')
    slot = pw / max(len(xs), 1)
    # the last series first: the widest lines go underneath (see PERCENTILE_LINES)
    for i, ln in sorted(enumerate(lines), key=lambda il: (-il[1].width, il[0])):
        out.append(f'<g class="s s{i}">')
        if stacked:
            bw = max(slot * 0.8, 1.0)
            for j, v in enumerate(ln.values):
                if v:
                    below = sum(other.values[j] or 0.0 for other in lines[:i])
                    top, bottom = y(below + v), y(below)
                    out.append(
                        f'<rect x="{x(xs[j]) - bw / 2:.1f}" y="{top:.1f}" width="{bw:.1f}" '
                        f'height="{bottom - top:.1f}" fill="{ln.colour}"/>'
                    )
        else:
            path: list[str] = []
            pen_up = True
            dots = len(xs) <= 60
            for j, v in enumerate(ln.values):
                if v is None:
                    pen_up = True
                    continue
                path.append(f"{'M' if pen_up else 'L'}{x(xs[j]):.1f},{y(v):.1f}")
                pen_up = False
                alone = (j == 0 or ln.values[j - 1] is None) and (j + 1 >= len(ln.values) or ln.values[j + 1] is None)
                if dots or alone:
                    out.append(f'<circle cx="{x(xs[j]):.1f}" cy="{y(v):.1f}" r="2.5" fill="{ln.colour}"/>')
            if path:
                out.append(
                    f'<path d="{"".join(path)}" stroke="{ln.colour}" fill="none" stroke-width="{ln.width:g}" '
                    'stroke-linejoin="round"/>'
                )
        out.append("</g>")
    # hover targets: one transparent column per slice, its <title> the slice's figures
    for j, t in enumerate(xs):
        left = (x(xs[j - 1]) + x(t)) / 2 if j else ML
        right = (x(t) + x(xs[j + 1])) / 2 if j + 1 < len(xs) else ML + pw
        tip = "\n".join(
            [fmt.clock(t)]
            + [f"{ln.label}: {_value(ln.values[j], unit)}" for ln in lines]
            + (
                [f"total: {_value(sum(ln.values[j] or 0.0 for ln in lines), unit)}"]
                if stacked and len(lines) > 1
                else []
            )
        )
        out.append(
            f'<rect class="hover" x="{left:.1f}" y="{MT}" width="{max(right - left, 0.5):.1f}" '
            f'height="{ph}"><title>{escape(tip)}</title></rect>'
        )
    out.append("</svg>")
    return legend(chart_id, lines) + "".join(out)


def _value(v: float | None, unit: str) -> str:
    if v is None:
        return "no requests"
    return f"{fmt.ms(v)} ms" if unit == "ms" else f"{v:,.2f} {unit}"


def distribution_chart(ids: Ids, counts: Sequence[int], marks: Sequence[tuple[str, float, str]]) -> str:
    """The latency histogram on a log axis, neighbouring buckets added up to at most DISTRIBUTION_BARS bars."""
    chart_id = ids.next()
    used = [i for i, c in enumerate(counts) if c]
    if not used:
        return '<p class="empty">No requests: no latency distribution.</p>'
    first, last = used[0], used[-1]
    group = max(1, math.ceil((last - first + 1) / DISTRIBUTION_BARS))
    total = sum(counts)
    bins: list[tuple[float, float, int]] = []
    for i in range(first, last + 1, group):
        lo = bucket_value(i) / math.sqrt(_GROWTH) * 1000
        hi = bucket_value(min(i + group, last + 1) - 1) * math.sqrt(_GROWTH) * 1000
        bins.append((lo, hi, sum(counts[i : i + group])))
    xt = fmt.log_ticks(bins[0][0], bins[-1][1])
    pw, ph = W - ML - MR, H - MT - MB
    lx0, lx1 = math.log10(xt[0]), math.log10(xt[-1])

    def x(v: float) -> float:
        return ML + (math.log10(v) - lx0) / (lx1 - lx0) * pw

    yt = fmt.nice_ticks(max(c for _, _, c in bins) / total * 100)

    def y(share: float) -> float:
        return MT + ph - share / yt[-1] * ph

    out = [f'<svg id="{chart_id}" viewBox="0 0 {W} {H}" role="img" class="chart">']
    for t in yt:
        out.append(
            f'<line class="grid" x1="{ML}" x2="{ML + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>'
            f'<text class="ylab" x="{ML - 6}" y="{y(t) + 4:.1f}">{fmt.tick_label(t)}%</text>'
        )
    for t in xt:
        out.append(
            f'<line class="tick" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{MT + ph}" y2="{MT + ph + 4}"/>'
            f'<text class="xlab" x="{x(t):.1f}" y="{MT + ph + 18}">{fmt.tick_label(t)}</text>'
        )
    out.append(f'<text class="unit" x="2" y="{MT + ph + 30}">ms</text>')
    out.append(f'<line class="axis" x1="{ML}" x2="{ML + pw}" y1="{MT + ph}" y2="{MT + ph}"/>')
    out.append('<g class="s s0">')
    for lo, hi, c in bins:
        share = c / total * 100
        tip = f"{fmt.ms(lo)}–{fmt.ms(hi)} ms: {c:,} requests ({share:.2f}%)"
        out.append(
            f'<rect class="bar" x="{x(lo):.1f}" y="{y(share):.1f}" width="{max(x(hi) - x(lo) - 1, 1):.1f}" '
            f'height="{MT + ph - y(share):.1f}" fill="{ENDPOINT_COLOURS[TOTAL]}">'
            f"<title>{escape(tip)}</title></rect>"
        )
    out.append("</g>")
    for i, (label, v, colour) in enumerate(marks, start=1):
        if v <= 0:
            continue
        mx = x(min(max(v, xt[0]), xt[-1]))
        # labels on the right of their line, or on its left near the chart's right edge
        tx, anchor = (mx + 4, "start") if mx < ML + pw * 0.75 else (mx - 4, "end")
        out.append(
            f'<g class="s s{i}"><line x1="{mx:.1f}" x2="{mx:.1f}" y1="{MT}" y2="{MT + ph}" stroke="{colour}" '
            f'stroke-width="2" stroke-dasharray="5 3"/>'
            f'<text class="mark" x="{tx:.1f}" y="{MT + 12 + 14 * (i - 1)}" fill="{colour}" '
            f'text-anchor="{anchor}">{escape(label)} {fmt.ms(v)} ms</text></g>'
        )
    out.append("</svg>")
    keys = [Line("requests", ENDPOINT_COLOURS[TOTAL], ()), *(Line(m[0], m[2], ()) for m in marks)]
    return legend(chart_id, keys) + "".join(out)
