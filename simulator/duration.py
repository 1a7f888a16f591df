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
from decimal import Decimal

__all__ = ["parse_duration"]

_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|ms|s|m|h|d)?\s*")
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_EXPECTED = "expected a duration such as 250ms, 30s, 1m30s or 2h"
#: What looks like a duration but is not one of ours, said by name: a sign, or an exponent.
_SIGNED = re.compile(r"\s*([+-])\s*(.*?)\s*$")
_EXPONENT = re.compile(r"\s*((?:\d+(?:\.\d*)?|\.\d+)[eE][+-]?\d+)\s*(us|ms|s|m|h|d)?\s*$")


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
    _refuse_sign_or_exponent(value, bare)
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


def _refuse_sign_or_exponent(value: str, bare: str | None) -> None:
    """A sign before a duration (``-5s``, ``+5s``), or a number with an exponent (``1e3ms``), named."""
    if signed := _SIGNED.match(value):
        sign, rest = signed.groups()
        if rest[:1] in "+-":  # "--5s", "+" (and no recursion a sign deep: 5,000 of them raised RecursionError)
            return
        try:
            parse_duration(rest, bare=bare)
        except ValueError:
            return  # "-abc": not a duration with a sign, the generic message says what one is
        if sign == "-":
            raise ValueError("expected a duration of at least 0 seconds")  # callers name the value
        raise ValueError(f"a duration is written without the sign: {rest}")
    if exponent := _EXPONENT.match(value):
        number, unit = exponent.groups()
        exact = Decimal(number)
        example = ""
        if abs(exact.adjusted()) <= 18:  # not 1e999999's million digits (nor Decimal's overflow past them)
            plain = format(exact.normalize(), "f")
            units = [unit] if unit else [bare] if bare else ["ms", "s"]  # a latency's bare number has no unit
            example = ", as " + " or ".join(plain + u for u in units)
        raise ValueError(f"a duration takes no exponent: write the number out{example}")
