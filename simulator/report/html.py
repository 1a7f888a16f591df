"""``report.html``: one self-contained page per run, readable on a laptop and offline.

Everything is inline: the CSS, the charts (SVG drawn here, in Python) and a few lines of
JavaScript that only toggle chart series. The page loads nothing, so it opens the same from a
CI artifact, an e-mail or a laptop on a train. Charts over time come from the run's timeline
(``RunStats.timeline``: per slice and endpoint, requests, failures and sparse latency buckets);
percentiles per slice are read from those buckets, so they carry the histograms' 1% error.
Hovering a chart shows a slice's figures (SVG ``<title>``, no script needed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from simulator.report import chart
from simulator.report import format as fmt
from simulator.report.assets import CSS, SCRIPT
from simulator.report.chart import TOTAL, Line
from simulator.report.chart import Ids as _Ids
from simulator.report.histogram import sparse_percentile
from simulator.report.outcome import (
    interruption,
    mock_caps,
    mock_warnings,
    replay_line,
    replay_short,
    result_of,
    stage_span,
)
from simulator.report.slo import Verdict, verdict_word
from simulator.report.stats import RunStats, merge_slice

__all__ = ["render_html"]

# The charts and the formatting helpers, under the names the sections below use.
_colour, _order = chart.colour, chart.order
_time_chart, _distribution_chart = chart.time_chart, chart.distribution_chart
_ms, _num, _pct, _clock, _duration, _when = fmt.ms, fmt.num, fmt.pct, fmt.clock, fmt.duration, fmt.when
_nice_ticks, _log_ticks, _time_ticks, _tick_label = fmt.nice_ticks, fmt.log_ticks, fmt.time_ticks, fmt.tick_label

#: The percentiles drawn over time: label, percentile, colour, line width. Wider lines are drawn
#: first, so where few requests make p95 equal p99 both stay visible.
PERCENTILE_LINES: tuple[tuple[str, float, str, float], ...] = (
    ("p50", 50.0, "#16a34a", 1.5),
    ("p95", 95.0, "#d97706", 2.2),
    ("p99", 99.0, "#dc2626", 3.2),
)
#: Most points of a chart over time; a longer run's slices are merged to fit.
MAX_POINTS = 150


# --- the run's timeline -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Timeline:
    xs: list[float]
    """Seconds since the run started: the middle of each slice's part of the run."""
    widths: list[float]
    """Seconds of the run each slice covers: rates divide by it, so a partial last slice reads true."""
    slices: Sequence[Mapping[str, Any]]
    end: float
    step: int
    names: list[str]

    def rate(self, name: str, column: int = 0) -> list[float | None]:
        return [(s[name][column] if name in s else 0) / w for s, w in zip(self.slices, self.widths, strict=True)]

    def counted(self, name: str) -> list[float | None]:
        """Per second, a plain count the slices keep (``dropped``, ``retries``)."""
        return [s.get(name, 0) / w for s, w in zip(self.slices, self.widths, strict=True)]

    def queued(self) -> list[float | None]:
        """The offline queues' highest depth in each slice (a gauge, not a rate)."""
        return [float(s.get("queued", 0)) for s in self.slices]

    def gauge(self, name: str) -> list[float | None]:
        """A sampled gauge's highest value in each slice (``inflight``, ``cpu``); None where unsampled."""
        return [float(s[name]) if name in s else None for s in self.slices]

    def stalled(self) -> list[float | None]:
        """Requests in flight in the slices where none finished: the target stalled (None elsewhere)."""
        return [
            float(s["inflight"]) if s.get("inflight", 0) > 0 and not (s.get(TOTAL) or [0])[0] else None
            for s in self.slices
        ]

    def percentile(self, name: str, p: float) -> list[float | None]:
        return [sparse_percentile(s[name][2], p) * 1000 if name in s and s[name][0] else None for s in self.slices]


def _timeline(summary: Mapping[str, Any], stats: RunStats) -> _Timeline:
    step = stats.timeline_step
    keys = sorted(stats.timeline)
    timing = summary.get("timing") or {}
    if not keys:
        return _Timeline([], [], [], float(timing.get("duration_s") or 1.0), step, [])
    started, ended = float(timing.get("started") or 0.0), float(timing.get("ended") or 0.0)
    # Slices lie within the run; if the timing does not frame them (hand-made stats), they frame themselves.
    origin = started if started and keys[0] >= started - step else float(keys[0])
    finish = ended if ended and ended >= keys[-1] else float(keys[-1] + step)
    filled = range(keys[0], keys[-1] + step, step) if (keys[-1] - keys[0]) // step < 20_000 else keys
    xs: list[float] = []
    widths: list[float] = []
    slices: list[Mapping[str, Any]] = []
    for key in filled:
        lo, hi = max(key, origin), min(key + step, finish)
        xs.append(((lo + hi) / 2 if hi > lo else key + step / 2) - origin)
        widths.append(max(hi - lo, step / 4))
        slices.append(stats.timeline.get(key, {}))
    end = max(finish - origin, xs[-1])
    if len(slices) > MAX_POINTS:
        # Merge neighbouring slices (buckets added, so percentiles stay those of the merged window):
        # 900 points in a 500-pixel chart draw noise, not a trend.
        k = math.ceil(len(slices) / MAX_POINTS)
        groups = [range(i, min(i + k, len(slices))) for i in range(0, len(slices), k)]
        xs = [sum(xs[j] * widths[j] for j in g) / sum(widths[j] for j in g) for g in groups]
        slices = [_merged([slices[j] for j in g]) for g in groups]
        widths = [sum(widths[j] for j in g) for g in groups]
        step *= k
    names = _order(sorted({n for s in slices for n, row in s.items() if isinstance(row, list)}))
    return _Timeline(xs, widths, slices, end, step, names)


def _merged(pieces: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Neighbouring timeline slices as one (a new dict: the run's stats stay as they are)."""
    out: dict[str, Any] = {}
    for piece in pieces:
        merge_slice(out, piece, across_workers=False)  # type: ignore[arg-type]  # it only reads piece
    return out


# --- sections -----------------------------------------------------------------------------------


def _table(
    head: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Sequence[int] | None = None, cls: str = ""
) -> str:
    """An HTML table; cells are already escaped. ``numeric`` columns (default: all but the first) align right."""
    right = set(range(1, len(head))) if numeric is None else set(numeric)

    def cell(tag: str, i: int, v: str) -> str:
        return f'<{tag} class="num">{v}</{tag}>' if i in right else f"<{tag}>{v}</{tag}>"

    out = [f'<table class="{cls}"><thead><tr>', *(cell("th", i, h) for i, h in enumerate(head)), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _section(anchor: str, title: str, body: str, note: str = "") -> str:
    note_html = f'<p class="note">{note}</p>' if note else ""
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{note_html}{body}</section>'


def _banners(summary: Mapping[str, Any]) -> str:
    out = []
    cut = interruption(summary)
    if cut:
        out.append(
            f'<div class="banner bad" role="alert"><strong>{escape(cut)}</strong>: the run was stopped (a signal) '
            "before its planned run time. Its figures cover only the part that ran; it is not a pass.</div>"
        )
    replayed = summary.get("replay")
    if replayed and (replay_short(replayed) or replayed.get("problem")):
        # Red when the replay failed to send it all; amber when --run-time or a signal cut it short.
        bad = replayed.get("problem") or not replayed.get("note")
        out.append(
            f'<div class="banner {"bad" if bad else "warn"}"><strong>Replay</strong>: '
            f"{escape(replay_line(replayed))}.</div>"
        )
    stall = summary.get("stall") or {}
    unfinished = summary.get("unfinished") or {}
    # Red only for a target that stopped answering: a second with requests waiting and none
    # answered, or a wait the completion SLO failed. A healthy run's requests in flight at the stop
    # are listed (summary.md, the chart), not an alarm.
    waited_too_long = any(
        not v.get("passed") and str(v.get("name", "")).startswith("no request unanswered")
        for v in summary.get("slo") or []
    )
    if stall.get("seconds") or waited_too_long:
        waits = ", ".join(
            f"{escape(ep)} {e['count']} (up to {e['max_elapsed_s']:g} s)"
            for ep, e in (unfinished.get("endpoints") or {}).items()
        )
        out.append(
            '<div class="banner bad"><strong>The target stopped answering</strong>'
            + (
                f" for {stall['seconds']} s of the run (requests waited, none was answered)"
                if stall.get("seconds")
                else ""
            )
            + (f"; still waiting when the test stopped: {waits}" if waits else "")
            + '. See <a href="#inflight">requests in flight</a>.</div>'
        )
    gen = summary.get("generator") or {}
    if gen.get("saturated"):
        out.append(
            '<div class="banner bad" role="alert"><strong>The load generator was saturated</strong> '
            f"(CPU up to {gen.get('max_cpu_percent', 0):g}%): its latency figures include its own queueing, not "
            "only the target's. Run again with more generator processes (<code>--processes N</code>) or "
            "workers on other hosts before trusting these percentiles.</div>"
        )
    if summary.get("population_exhausted"):
        out.append(
            '<div class="banner warn">Every device of the population played before the run ended: the '
            "load tailed off. Use a larger population or a shorter run.</div>"
        )
    rec = summary.get("reconciliation")
    if rec is not None and not rec.get("ok"):
        out.append(
            '<div class="banner bad">Reconciliation failed: what the target acknowledged differs from what '
            'it stored. See <a href="#reconciliation">reconciliation</a>.</div>'
        )
    return "".join(out)


def _tiles(summary: Mapping[str, Any]) -> str:
    total = summary["total"]
    arrivals = summary.get("arrivals") or {}
    rate = total["failures"] / total["count"] if total["count"] else None
    rec = summary.get("reconciliation")
    replayed = summary.get("replay")  # a replay is the closed model: its tile says what it sent instead
    tiles = [
        ("requests", _num(total["count"]), f"{total['rps']:,.1f} per second"),
        ("latency p50", f"{_ms(total['p50_ms'])} ms", f"p90 {_ms(total['p90_ms'])} ms"),
        ("latency p95", f"{_ms(total['p95_ms'])} ms", f"p99 {_ms(total['p99_ms'])} ms"),
        ("latency max", f"{_ms(total['max_ms'])} ms", f"p99.9 {_ms(total['p999_ms'])} ms"),
        (
            "failures",
            _num(total["failures"]),
            f"{_pct(rate, 2)} of requests; {_num(total['expected_rejections'])} expected 400s",
        ),
        (
            (
                "replayed",
                _num(replayed["sent"]),
                f"of the dataset's {_num(replayed['dataset_requests'])} requests"
                + (f"; {_num(replayed['cut_off'])} cut off at the stop" if replayed.get("cut_off") else ""),
            )
            if replayed
            else (
                "dropped arrivals",
                _num(arrivals.get("dropped", 0)),
                f"of {_num(arrivals.get('scheduled', 0))} scheduled" if arrivals.get("scheduled") else "closed model",
            )
        ),
        (
            "reconciliation",
            "not checked" if rec is None else ("OK" if rec.get("ok") else "FAILED"),
            "against the mock's store" if rec is not None else "real target",
        ),
        ("generator CPU", f"{(summary.get('generator') or {}).get('max_cpu_percent', 0):g}%", "peak, busiest process"),
    ]
    bad = {
        "failures": bool(total["failures"]),
        "dropped arrivals": bool(arrivals.get("dropped")),
        "replayed": replayed is not None and replay_short(replayed),
        "reconciliation": rec is not None and not rec.get("ok"),
        "generator CPU": bool((summary.get("generator") or {}).get("saturated")),
    }
    return (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile{" bad" if bad.get(k) else ""}"><div class="k">{escape(k)}</div>'
            f'<div class="v">{escape(v)}</div><div class="sub">{escape(sub)}</div></div>'
            for k, v, sub in tiles
        )
        + "</div>"
    )


_VERDICT_HTML = {"pass": '<span class="pass">pass</span>', "**FAIL**": '<span class="fail">FAIL</span>'}


def _slo(summary: Mapping[str, Any]) -> str:
    if not summary["slo"]:
        return _section("slo", "SLOs", '<p class="empty">The scenario has no [slo] table: nothing was gated.</p>')
    verdicts = [Verdict.from_dict(v) for v in summary["slo"]]
    rows = [
        [
            escape(v.name),
            escape(v.show(v.threshold)),
            escape("–" if v.actual is None else v.show(v.actual)),
            _VERDICT_HTML.get(verdict_word(v, summary), escape(verdict_word(v, summary))),
        ]
        for v in verdicts
    ]
    failed = sum(verdict_word(v, summary) == "**FAIL**" for v in verdicts)
    note = f"{failed} of {len(rows)} failed." if failed else f"All {len(rows)} held."
    return _section("slo", "SLOs", _table(["SLO", "threshold", "actual", "verdict"], rows), escape(note))


def _stages(summary: Mapping[str, Any]) -> str:
    """Open model with stages: each stage's target rate beside its achieved rate and drops."""
    stages = (summary.get("arrivals") or {}).get("stages") or []
    if not stages:
        return ""
    rows = [
        [
            escape(str(r["stage"])),
            escape(stage_span(r)),
            fmt.num(r["target_rate"]),
            fmt.num(r["achieved_rate"]),
            fmt.num(r["planned"]),
            fmt.num(r["scheduled"]),
            fmt.num(r["dropped"]),
        ]
        for r in stages
    ]
    head = ["stage", "seconds", "target /s", "achieved /s", "planned", "scheduled", "dropped"]
    return _section(
        "stages",
        "Arrivals by stage",
        _table(head, rows, numeric=[2, 3, 4, 5, 6]),
        "Open model: each stage's target rate beside the rate handed to users, on the scheduler's clock. "
        "The run's achieved rate averages a peak with its calm; this shows the peak alone.",
    )


def _over_time(ids: _Ids, tl: _Timeline) -> str:
    if not tl.slices:
        empty = '<p class="empty">No requests were recorded: nothing to draw over time.</p>'
        return _section("rate", "Over time", empty)
    width = _duration(tl.step) if tl.step >= 60 else f"{tl.step} s"
    step_note = f"Slices of {width}; hover a chart for a slice's figures, click a key to hide a series."
    rate = [Line(n, _colour(n, tl.names), tl.rate(n)) for n in tl.names]
    out = [_section("rate", "Request rate", _time_chart(ids, tl.xs, tl.end, rate, unit="requests/s"), step_note)]
    charts = []
    for n in tl.names:
        lines = [Line(label, colour, tl.percentile(n, p), width) for label, p, colour, width in PERCENTILE_LINES]
        charts.append(
            f'<div class="small"><h3><i style="background:{_colour(n, tl.names)}"></i>{escape(n)}</h3>'
            f"{_time_chart(ids, tl.xs, tl.end, lines, unit='ms', log=True, width=540, height=230)}</div>"
        )
    out.append(
        _section(
            "latency",
            "Latency percentiles over time",
            f'<div class="grid2">{"".join(charts)}</div>',
            "Latency from the intended start of each request (log scale), per endpoint and in total.",
        )
    )
    errors = [Line(n, _colour(n, tl.names), tl.rate(n, 1)) for n in tl.names if n != TOTAL]
    failed = any(v for ln in errors for v in ln.values)
    out.append(
        _section(
            "errors-over-time",
            "Errors over time",
            _time_chart(ids, tl.xs, tl.end, errors, unit="failures/s", stacked=True)
            if failed
            else '<p class="empty">No failures in the whole run.</p>',
            "Failed requests per second, stacked by endpoint (expected 400s to faulty SDKs are not failures).",
        )
    )
    inflight = tl.gauge("inflight")
    if any(inflight):
        lines = [Line("in flight", "#6b7280", inflight), Line("stalled: none answered", "#dc2626", tl.stalled(), 3.2)]
        out.append(
            _section(
                "inflight",
                "Requests in flight",
                _time_chart(ids, tl.xs, tl.end, lines, unit="requests"),
                "Requests sent and not yet answered (the highest in each slice). Red: slices in which requests "
                "waited and not one was answered, a target that stalled.",
            )
        )
    dropped = tl.counted("dropped")
    body = (
        _time_chart(ids, tl.xs, tl.end, [Line("dropped", "#dc2626", dropped)], unit="arrivals/s", stacked=True)
        if any(dropped)
        else '<p class="empty">No arrival was dropped.</p>'
    )
    out.append(
        _section(
            "dropped",
            "Dropped arrivals over time",
            body,
            "Open model: arrivals that found no free user, per second. The closed model drops none.",
        )
    )
    retries = tl.counted("retries")
    if any(retries):
        out.append(
            _section(
                "retries",
                "Retries over time",
                _time_chart(ids, tl.xs, tl.end, [Line("retries", "#d97706", retries)], unit="retries/s", stacked=True),
                "Attempts the simulated SDKs made again after a retryable failure (the "
                "scenario's [client.retry] policy), per second.",
            )
        )
    queued = tl.queued()
    if any(queued):
        out.append(
            _section(
                "queued",
                "Offline queue depth",
                _time_chart(ids, tl.xs, tl.end, [Line("queued", "#0d9488", queued)], unit="requests"),
                "Requests the simulated devices held back while offline or backing off "
                "(the highest depth in each slice).",
            )
        )
    return "".join(out)


def _distribution(ids: _Ids, summary: Mapping[str, Any], stats: RunStats) -> str:
    total = summary["total"]
    marks = [(label, float(total[f"{label}_ms"]), colour) for label, _, colour, _ in PERCENTILE_LINES]
    return _section(
        "distribution",
        "Latency distribution",
        _distribution_chart(ids, stats.total.latency.counts, marks),
        "Share of all requests by latency (log scale), with the run's percentiles.",
    )


def _funnel(summary: Mapping[str, Any]) -> str:
    f = summary.get("funnel") or {}
    stages = f.get("stages") or []
    if not stages or not stages[0]["count"]:
        return _section("funnel", "Journey funnel", '<p class="empty">No session started successfully.</p>')
    top = max(st["count"] for st in stages) or 1
    rows = []
    for i, st in enumerate(stages):
        bar = f'<div class="fbar"><span style="width:{st["count"] / top * 100:.1f}%"></span></div>'
        steps = ", ".join(f"<code>{escape(s)}</code>" for s in st["steps"])
        rows.append(
            [
                escape(st["stage"]),
                steps,
                _num(st["count"]),
                bar,
                _pct(st["conversion"]),
                "–" if i == 0 else _pct(st["from_previous"]),
            ]
        )
    devices = f.get("devices", 0)
    login = f.get("login")
    if login:
        steps = ", ".join(f"<code>{escape(s)}</code>" for s in login.get("steps", []))
        rows.append([escape("logged in (not a stage)"), steps, _num(login["count"]), "", _pct(login["rate"]), "–"])
    if f.get("counts") == "sessions":
        note = (
            "Distinct sessions, in order: each stage counts the sessions that reached it (a successful "
            "request of its step) after the stage before, so a session that adds to cart twice counts once "
            'and "of previous" is at most 100%. Logging in is not a step on the way to a purchase: it is '
            "shown as its own rate, the sessions that identified."
        )
    else:
        note = (
            "Successful requests of each step (a report of an older run, which did not count sessions): "
            "not ordered, so no share of the previous stage."
        )
    note += f" {devices:,} devices started." if devices else ""
    return _section(
        "funnel",
        "Journey funnel",
        _table(
            ["stage", "counted steps", "count", "", "of sessions", "of previous"], rows, numeric=(2, 4, 5), cls="funnel"
        ),
        escape(note),
    )


def _rows(summary: Mapping[str, Any]) -> str:
    head = [
        "name",
        "requests",
        "failures",
        "expected 400s",
        "error rate",
        "req/s",
        "p50",
        "p90",
        "p95",
        "p99",
        "p99.9",
        "max",
        "service p50",
        "service p99",
    ]

    def row(name: str, r: Mapping[str, Any], cls: str = "") -> list[str]:
        svc = r.get("service_time") or {}
        label = f'<span class="{cls}">{escape(name)}</span>' if cls else escape(name)
        return [
            label,
            _num(r["count"]),
            _num(r["failures"]),
            _num(r["expected_rejections"]),
            _pct(r["failures"] / r["count"] if r["count"] else None, 2),
            f"{r['rps']:,.1f}",
            *(_ms(r[f"{k}_ms"]) for k in ("p50", "p90", "p95", "p99", "p999", "max")),
            _ms(svc.get("p50_ms")),
            _ms(svc.get("p99_ms")),
        ]

    endpoints = summary["endpoints"]
    rows = [row(n, endpoints[n]) for n in _order(list(endpoints))]
    steps = [k for k in summary["steps"] if k not in endpoints]
    rows += [row(k, summary["steps"][k], "step") for k in sorted(steps)]
    rows.append(row(TOTAL, summary["total"], "strong"))
    note = (
        "Latency in ms from the intended start (open model) or the send (closed model); service time from "
        "the send. Journey steps are indented."
    )
    return _section("requests", "Requests by endpoint and step", _table(head, rows, cls="wide"), escape(note))


def _rejections(summary: Mapping[str, Any]) -> str:
    rejected = summary.get("expected_rejections") or []
    if not rejected:
        return ""
    rows = [
        [escape(str(r["fault"])), _num(r["count"]), f'<code class="example">{escape(str(r["message"])[:600])}</code>']
        for r in rejected
    ]
    return _section(
        "rejections",
        "Expected rejections by fault kind",
        _table(["faulty SDK's mistake", "400s", "the collector's message"], rows, numeric=(1,), cls="errors"),
        "Malformed bodies the scenario's faulty SDKs sent on purpose, each answered 400 as the API must: "
        "not errors of the target.",
    )


def _errors(summary: Mapping[str, Any]) -> str:
    errors = summary.get("errors") or []
    if not errors:
        rejected = sum(r["count"] for r in summary.get("expected_rejections") or [])
        none = "No errors." + (
            f" The {rejected:,} expected 400s to faulty SDKs are explained above." if rejected else ""
        )
        return _section("errors", "Errors by kind", f'<p class="empty">{escape(none)}</p>')
    total = summary["total"]["count"] or 1
    rows = [
        [
            escape(e["kind"]),
            _num(e["count"]),
            _pct(e["count"] / total, 2),
            f'<code class="example">{escape(str(e["example"])[:600])}</code>',
        ]
        for e in errors
    ]
    return _section(
        "errors",
        "Errors by kind",
        _table(["kind", "count", "of requests", "first example"], rows, numeric=(1, 2), cls="errors"),
    )


def _reconciliation(summary: Mapping[str, Any]) -> str:
    rec = summary.get("reconciliation")
    if rec is None:
        return _section(
            "reconciliation",
            "Reconciliation",
            '<p class="empty">Not checked: reconciliation needs the mock collector as the target.</p>',
        )
    out = [
        '<p class="pass big">OK: every acknowledged request was stored, nothing more.</p>'
        if rec.get("ok")
        else '<p class="fail big">FAILED</p><ul>'
        + "".join(f"<li>{escape(str(d))}</li>" for d in rec.get("differences", []))
        + "</ul>"
    ]
    caps = mock_caps(rec)
    if caps:  # beside the verdict: the rows were counted, some of what they held was not kept
        out.append(
            '<div class="banner warn">The mock\'s memory caps: <ul>'
            + "".join(f"<li>{escape(c)}</li>" for c in caps)
            + "</ul></div>"
        )
    per = rec.get("endpoints") or {}
    if per:
        cols = sorted({k for v in per.values() if isinstance(v, Mapping) for k in v})
        rows = [[escape(ep), *(_cell(v.get(c, "–")) for c in cols)] for ep, v in per.items() if isinstance(v, Mapping)]
        out.append(_table(["endpoint", *(c.replace("_", " ") for c in cols)], rows))
    said = mock_warnings(rec)
    if said:
        out.append("<p>The mock noticed:</p><ul>" + "".join(f"<li>{escape(w)}</li>" for w in said) + "</ul>")
    others = {k: v for k, v in rec.items() if k not in ("ok", "differences", "endpoints")}
    if isinstance(others.get("mock"), Mapping):  # its warnings are said in words above
        others["mock"] = {k: v for k, v in others["mock"].items() if k != "warnings"}
    if others:
        out.append(_kv(others))
    return _section("reconciliation", "Reconciliation", "".join(out))


def _cell(v: Any) -> str:
    return ("yes" if v else "no") if isinstance(v, bool) else escape(str(v))


def _kv(d: Mapping[str, Any]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, Mapping):
            return ", ".join(f"{escape(str(k))}: {_cell(x)}" for k, x in v.items())
        return _cell(v)

    return '<dl class="kv">' + "".join(f"<dt>{escape(str(k))}</dt><dd>{value(v)}</dd>" for k, v in d.items()) + "</dl>"


def _details(summary: Mapping[str, Any]) -> str:
    timing = summary["timing"]
    arrivals = summary.get("arrivals") or {}
    d: dict[str, Any] = {
        "scenario": summary["scenario"],
        "seed": summary.get("seed"),
        "load model": summary.get("load_model"),
        "started": _when(timing["started"]) if timing.get("started") else "–",
        "duration": _duration(float(timing.get("duration_s", 0.0))),
        "workers": summary.get("workers"),
        "target": summary.get("target") or {},
    }
    if arrivals.get("scheduled"):
        per = f"{arrivals.get('unit', 'sessions')}/s"  # the rates' unit: the load's rate_unit
        d["arrivals"] = {
            "scheduled": arrivals["scheduled"],
            "dropped": arrivals["dropped"],
            f"target rate ({per})": arrivals.get("target_rate"),
            f"achieved rate ({per})": arrivals.get("achieved_rate"),
        }
    retries = summary.get("retries") or {}
    if retries.get("total"):
        d["retries"] = {
            "total": retries["total"],
            **retries.get("endpoints", {}),
            "requests recovered": retries.get("recovered", 0),
        }
        if retries.get("after"):
            d["retried after"] = retries["after"]
    queue = summary.get("offline_queue") or {}
    if any(queue.values()):
        d["offline queue"] = {k.replace("_", " "): v for k, v in queue.items()}
    d["devices started"] = summary.get("devices_started", 0)
    d["generator"] = summary.get("generator") or {}
    d["versions"] = summary.get("versions") or {}
    return _section("details", "Run details", _kv(d))


NAV: tuple[tuple[str, str], ...] = (
    ("slo", "SLOs"),
    ("rate", "rate"),
    ("latency", "latency"),
    ("errors-over-time", "errors over time"),
    ("dropped", "dropped"),
    ("distribution", "distribution"),
    ("funnel", "funnel"),
    ("requests", "endpoints"),
    ("errors", "errors"),
    ("reconciliation", "reconciliation"),
    ("details", "details"),
)


def render_html(summary: Mapping[str, Any], stats: RunStats) -> str:
    """The whole page for a run: ``summary`` as ``build_summary`` made it, ``stats`` for histograms and timeline.

    Deterministic: the same inputs give the same bytes (``loadsim report`` relies on it).
    """
    ids = _Ids()
    tl = _timeline(summary, stats)
    result = result_of(summary)
    passed = result == "PASSED"
    timing = summary["timing"]
    title = f"loadsim: {summary['scenario']}"
    meta = (
        f"{escape(str(summary.get('load_model')))} model · {_duration(float(timing.get('duration_s', 0)))} · "
        f"{summary.get('workers', 1)} worker(s) · seed {escape(str(summary.get('seed')))} · "
        f"target {escape(str((summary.get('target') or {}).get('kind', '?')))}"
        + (f" · started {_when(timing['started'])}" if timing.get("started") else "")
        + (f" · {_duration(float(timing['planned_s']))} planned" if timing.get("planned_s") else "")
    )
    reason = summary.get("reason")
    nav = "".join(f'<a href="#{a}">{escape(t)}</a>' for a, t in NAV)
    body = [
        f'<header><h1>{escape(title)}<span class="badge {"pass" if passed else "fail"}">'
        f'{result}</span></h1><div class="meta">{meta}</div>'
        + (f'<div class="meta reason">{escape(result)}: {escape(str(reason))}</div>' if reason else "")
        + "</header>",
        f"<nav>{nav}</nav>",
        _banners(summary),
        _tiles(summary),
        _slo(summary),
        _stages(summary),
        _over_time(ids, tl),
        _distribution(ids, summary, stats),
        _funnel(summary),
        _rows(summary),
        _rejections(summary),
        _errors(summary),
        _reconciliation(summary),
        _details(summary),
        f"<footer>loadsim summary schema {summary.get('schema_version')} · self-contained page: it loads "
        "nothing from the network</footer>",
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} ({'passed' if passed else result})</title>"
        f"<style>{CSS}</style></head><body><main>{''.join(body)}</main>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
