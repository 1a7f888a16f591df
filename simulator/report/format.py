"""Numbers, times and axis ticks as the report shows them (pure functions of their arguments)."""

from __future__ import annotations

import math
import time

__all__ = ["clock", "duration", "log_ticks", "ms", "nice_ticks", "num", "pct", "tick_label", "time_ticks", "when"]


# --- formatting ---------------------------------------------------------------------------------


def ms(v: float | None) -> str:
    """Milliseconds with three significant figures (the histograms hold about that much)."""
    if v is None:
        return "–"
    if v == 0:
        return "0"
    if v < 1:
        return f"{v:.3f}"
    if v < 10:
        return f"{v:.2f}"
    if v < 100:
        return f"{v:.1f}"
    return f"{v:,.0f}"


def num(n: float | int | None) -> str:
    if n is None:
        return "–"
    if isinstance(n, float) and not n.is_integer():
        return f"{n:,.1f}" if abs(n) >= 10 else f"{n:.2f}"
    return f"{int(n):,}"


def pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x * 100:.{digits}f}%"


def clock(seconds: float) -> str:
    """Seconds since the start as ``m:ss`` (or ``h:mm:ss``)."""
    s = round(seconds)
    sign = "-" if s < 0 else ""
    s = abs(s)
    if s >= 3600:
        return f"{sign}{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{sign}{s // 60}:{s % 60:02d}"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(round(seconds), 60)
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min {s:02d} s"


def when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


# --- axes ---------------------------------------------------------------------------------------


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """0 and round steps (1, 2, 2.5 or 5 times a power of ten) up to at least ``top``."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    n = math.ceil(top / step - 1e-9)
    return [i * step for i in range(n + 1)]


def log_ticks(lo: float, hi: float, most: int = 8) -> list[float]:
    """1-2-5 ticks (powers of ten alone when more would crowd) from at or below ``lo`` to at or above ``hi``."""
    lo, hi = min(lo, hi), max(lo, hi)
    if hi <= lo * 1.0001:
        lo, hi = lo / 2, hi * 2
    for steps in ((1, 2, 5), (1,)):
        ticks = [
            m * 10.0**k for k in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1) for m in steps
        ]
        first = max(i for i, t in enumerate(ticks) if t <= lo * 1.0001)
        last = min(i for i, t in enumerate(ticks) if t >= hi / 1.0001)
        if last - first < most:
            break
    return ticks[first : last + 1]


def time_ticks(end: float) -> list[float]:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400):
        if end / step <= 10:
            return [i * step for i in range(int(end // step) + 1)]
    return [0.0, end]


def tick_label(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:g}"
