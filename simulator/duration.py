"""Durations as people write them in scenario files and on the command line: ``90``, ``"90s"``,
``"1m30s"``, ``"250ms"``, ``"250us"``, ``"2h"``, ``"1d"``. One grammar for the whole tool.

The rule for a bare number (``90``, ``"90"``): it is seconds, everywhere (scenario durations,
``--run-time``, ``--retry-after``, ``--freeze-at``, ``POST /_admin/refuse``), except in a latency
spec (``--latency``, a fault's ``latency``), where ``123`` could as well mean milliseconds: there a
unit is required (``bare=None``).
"""

from __future__ import annotations

import math
import re

__all__ = ["parse_duration"]

_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|ms|s|m|h|d)?\s*")
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_EXPECTED = "expected a duration such as 250ms, 30s, 1m30s or 2h"


def parse_duration(value: str | float, *, bare: str | None = "s") -> float:
    """Seconds; ValueError saying what is expected otherwise.

    A bare number (``90`` or ``"90"``) is in unit ``bare``; with ``bare=None`` it must carry a
    unit (a latency of ``"123"`` could be seconds or milliseconds). A bare number must stand
    alone: ``"1m 30"`` is more likely a mistake than 90 seconds.
    """
    if isinstance(value, bool):
        raise ValueError(_EXPECTED)
    if isinstance(value, int | float):
        if bare is None:
            raise ValueError(f"a duration needs a unit: write {value}ms or {value}s")
        if not math.isfinite(value) or value < 0:
            raise ValueError("expected a duration of at least 0 seconds")
        return float(value) * _UNITS[bare]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(_EXPECTED)
    total, pos = 0.0, 0
    while pos < len(value):
        m = _PART.match(value, pos)
        if not m or m.end() == pos:
            raise ValueError(_EXPECTED)
        unit = m.group(2)
        if unit is None:
            if bare is None:
                raise ValueError(f"a duration needs a unit: write {m.group(1)}ms or {m.group(1)}s")
            if pos > 0 or m.end() < len(value):
                raise ValueError(_EXPECTED)
            unit = bare
        total += float(m.group(1)) * _UNITS[unit]
        pos = m.end()
    return total
