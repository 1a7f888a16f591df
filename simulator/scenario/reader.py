"""The generic reader: any dataclass of the scenario model from a TOML table, by its fields.

Every problem of a file is collected (``_Reader``), each naming the file, the field path and the
offending value, with a did-you-mean hint for typos; unknown keys are errors. ``[app]`` and
``[population]`` are read from their dataclasses' fields alone, so a field added to
``simulator.population`` is a scenario option without a change here.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal

from simulator.duration import parse_duration
from simulator.errors import ScenarioProblem
from simulator.scenario.model import MAX_COUNT, MAX_DURATION_S, Distribution


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 60 else text[:55] + "..."


class _Reader:
    """Collects every problem of one file while converting its tables."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[ScenarioProblem] = []
        #: What is legal but likely not meant (a state that never plays): said, never refused.
        self.warnings: list[ScenarioProblem] = []

    def err(self, path: str, message: str) -> None:
        self.problems.append(ScenarioProblem(self.file, path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(ScenarioProblem(self.file, path, f"warning: {message}"))

    def unknown(self, path: str, key: str, allowed: typing.Iterable[str]) -> None:
        self.err(_join(path, key), f"unknown key; {hint(key, allowed)}")

    def table(self, value: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.err(path, f"expected a table, got {_show(value)}")
            return None
        return value


def hint(word: Any, choices: typing.Iterable[str], otherwise: str | None = None) -> str:
    """``did you mean 'x'?`` naming the closest of ``choices`` to a mistyped ``word``; when none is
    close, ``otherwise`` (default: ``expected one of a, b, c``). Every unknown name gets this hint."""
    choices = list(choices)
    close = difflib.get_close_matches(str(word), choices, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"expected one of {', '.join(choices)}" if otherwise is None else otherwise


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


_SKIP = object()  # a field's value was wrong: leave the default and carry on collecting problems


def _convert(r: _Reader, value: Any, tp: Any, path: str, meta: Mapping[str, Any]) -> Any:
    """``value`` from TOML as type ``tp``; on a problem report it and return ``_SKIP``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(r, value, inner[0], path, meta) if len(inner) == 1 else value
    if tp is Any:
        return value
    if origin is Literal:
        if value not in args:
            r.err(path, f"expected {' or '.join(_show(a) for a in args)}, got {_show(value)}")
            return _SKIP
        return value
    if meta.get("duration"):
        try:
            out: Any = parse_duration(value)
        except ValueError as e:
            r.err(path, f"{e}, got {_show(value)}")
            return _SKIP
        return _check_number(r, out, path, meta)
    if tp is bool:
        if not isinstance(value, bool):
            r.err(path, f"expected true or false, got {_show(value)}")
            return _SKIP
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            r.err(path, f"expected an integer, got {_show(value)}")
            return _SKIP
        return _check_number(r, value, path, meta)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            r.err(path, f"expected a number, got {_show(value)}")
            return _SKIP
        return _check_number(r, float(value), path, meta)
    if tp is str:
        if not isinstance(value, str):
            r.err(path, f"expected a string, got {_show(value)}")
            return _SKIP
        return value
    if tp is Distribution:
        return _distribution(r, value, path, count=meta.get("check") == "count")
    if origin in (tuple, list):
        if not isinstance(value, list):
            r.err(path, f"expected an array, got {_show(value)}")
            return _SKIP
        item_tp = args[0] if args else Any
        items = [_convert(r, v, item_tp, f"{path}[{i}]", meta) for i, v in enumerate(value)]
        return tuple(v for v in items if v is not _SKIP) if origin is tuple else items
    if origin in (Mapping, dict) or tp is dict:
        table = r.table(value, path)
        if table is None:
            return _SKIP
        val_tp = args[1] if len(args) == 2 else Any
        out = {}
        # Each value takes the field's check (a probability, an exchange rate); without one, a number is a weight.
        each = meta if meta.get("check") in ("probability", "rate") else {"check": "weight"}
        for k, v in table.items():
            c = _convert(r, v, val_tp, _join(path, k), each)
            if c is not _SKIP:
                out[k] = c
        return out
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass(r, tp, value, path)
    r.err(path, f"cannot read a value of type {tp!r} (a bug in loadsim: please report it)")
    return _SKIP


def _check_number(r: _Reader, x: float, path: str, meta: Mapping[str, Any]) -> Any:
    check = meta.get("check")
    bad = None
    if check == "probability" and not 0.0 <= x <= 1.0:
        bad = "expected a probability between 0 and 1"
    elif check == "positive" and not x > 0:
        bad = "expected a value greater than 0"
    elif check == "nonnegative" and not x >= 0:
        bad = "expected a value of at least 0"
    elif check == "weight" and not x >= 0:
        bad = "expected a weight of at least 0"
    elif check == "rate" and not x > 0:
        bad = "expected an exchange rate above 0 (local currency units per US dollar)"
    elif check == "percentile" and not 0.0 < x <= 100.0:
        bad = "expected a percentile in (0, 100], such as 99 or 99.9"
    if bad:
        r.err(path, f"{bad}, got {_show(x)}")
        return _SKIP
    return x


_PROBABILITY_NAME = re.compile(r"(share|opt_in|probability|limit_ad_tracking|_people)\Z")


def _guess_meta(name: str, tp: Any) -> Mapping[str, Any]:
    """Checks for a field without metadata (``population`` fields): shares are probabilities."""
    if _PROBABILITY_NAME.search(name):
        return {"check": "probability"}
    return {}


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _dataclass(r: _Reader, cls: type, value: Any, path: str, *, skip: tuple[str, ...] = ()) -> Any:
    """Any dataclass from a TOML table by its fields: unknown keys, types and field checks reported."""
    table = r.table(value, path)
    if table is None:
        return _SKIP
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    kwargs: dict[str, Any] = {}
    for key, raw in table.items():
        f = fields.get(key)
        if f is None:
            r.unknown(path, key, fields)
            continue
        meta = f.metadata or _guess_meta(f.name, hints[f.name])
        converted = _convert(r, raw, hints[f.name], _join(path, key), meta)
        if converted is not _SKIP:
            kwargs[key] = converted
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs
        and n not in table
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    for n in missing:
        r.err(_join(path, n), "required key is missing")
    if missing or len(kwargs) < len(table):
        return _SKIP
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        r.err(path, str(e))
        return _SKIP


_DIST_CALL = re.compile(r"\s*(\w+)\s*\((.*)\)\s*\Z")
_DIST_OPEN = re.compile(r"\s*\w+\s*\(")
#: A number as text, exponent notation too ("0.8", "1e3", "-2"): a distribution's argument.
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*\Z")
_DIST_ARGS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "exponential": ("mean",),
    "exp": ("mean",),
    "lognormal": ("median", "sigma"),
    "uniform": ("min", "max"),
    "geometric": ("mean",),
}
_DIST_KEYS = ("dist", "value", "mean", "median", "sigma", "min", "max")


def _field_alone(path: str, key: str) -> str:
    """A bare value's argument path: the file has the field alone (``think = "2s"``), no ``value`` key."""
    return path


def _dist_number(r: _Reader, v: Any, path: str, *, count: bool, sigma: bool) -> float | None:
    """One argument of a distribution: a number (``1e3`` too) or, for a duration, text such as ``2s``;
    a value below 0 is refused here, as its sign is the problem. None when reported."""
    if (isinstance(v, int | float) and not isinstance(v, bool)) or (isinstance(v, str) and _NUMBER.match(v)):
        x = float(v)
    elif count or sigma:
        what = "a count takes no unit" if count else "a sigma takes no unit (it is the spread of the log)"
        r.err(path, f"{what}: expected a number such as {'3' if count else '0.8'}, got {_show(v)}")
        return None
    else:
        try:
            x = parse_duration(v)
        except ValueError:
            r.err(path, f"expected a number or a duration such as 2s, got {_show(v)}")
            return None
    if not math.isfinite(x):
        r.err(path, f"expected a finite number, got {_show(v)}")
        return None
    if x < 0:
        what = "a sigma" if sigma else "a count" if count else "a duration"
        r.err(path, f"expected {what} of at least 0, got {x:g}")
        return None
    return x


def _distribution(r: _Reader, value: Any, path: str, *, count: bool = False) -> Any:
    """A Distribution from ``"lognormal(2s, 0.8)"``-style text, a bare duration or a table. ``count``:
    a number of things (sessions), whose arguments take no unit and are at least 1. Either form gets
    the same bounds: its largest draw at most ``MAX_DURATION_S`` (a count: ``MAX_COUNT``)."""
    where: Callable[[str, str], str] = _join  # an argument's path: field.argument, or the field for a bare value
    if isinstance(value, str) and (m := _DIST_CALL.match(value)):
        kind = m.group(1)
        if kind not in _DIST_ARGS:
            close = hint(kind, _DIST_ARGS, "")
            r.err(path, f"unknown distribution {_show(kind)}" + (f"; {close}" if close else ""))
            return _SKIP
        parts = [p.strip() for p in m.group(2).split(",")] if m.group(2).strip() else []
        names = _DIST_ARGS[kind]
        if len(parts) != len(names):
            r.err(path, f"{kind}() takes {len(names)} argument(s) ({', '.join(names)}), got {_show(value)}")
            return _SKIP
        table: dict[str, Any] = {"dist": kind, **dict(zip(names, parts, strict=True))}
    elif isinstance(value, str) and _DIST_OPEN.match(value) and not value.rstrip().endswith(")"):
        r.err(path, f'{_show(value)} is not closed: expected ")" at its end')
        return _SKIP
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        table = {"dist": "constant", "value": value}
        where = _field_alone
    elif isinstance(value, dict):
        table = value
    else:
        r.err(path, f'expected a distribution such as "lognormal(2s, 0.8)" or a table, got {_show(value)}')
        return _SKIP
    kind = table.get("dist", "constant")
    kind = "exponential" if kind == "exp" else kind
    if kind not in _DIST_ARGS:
        r.err(_join(path, "dist"), f"unknown distribution {_show(kind)}; {hint(kind, _DIST_ARGS)}")
        return _SKIP
    allowed = ("dist", *_DIST_ARGS[kind], "min", "max")
    nums: dict[str, float] = {}
    ok = True
    for k, v in table.items():
        if k == "dist":
            continue
        if k not in allowed:
            r.unknown(path, k, allowed)
            ok = False
            continue
        x = _dist_number(r, v, where(path, k), count=count, sigma=k == "sigma")
        if x is None:
            ok = False
        elif (
            count
            and kind != "geometric"
            and k in ("value", "mean", "median", "min" if kind == "uniform" else "")
            and x < 1
        ):
            r.err(where(path, k), f"expected a count of at least 1, got {x:g}")
            ok = False
        else:
            nums[k] = x
    for k in _DIST_ARGS[kind]:
        if k not in nums and k not in table:
            r.err(_join(path, k), f"required by a {kind} distribution")
            ok = False
    if not ok:
        return _SKIP
    low, high = nums.get("min", 0.0), nums.get("max", math.inf)
    if low > high:
        r.err(path, f"min {low:g} is greater than max {high:g}")
        return _SKIP
    if kind == "geometric" and nums["mean"] < 1:
        r.err(_join(path, "mean"), f"a geometric count has a mean of at least 1, got {nums['mean']:g}")
        return _SKIP
    if kind == "lognormal":
        dist = Distribution("lognormal", nums["median"], nums["sigma"], low=low, high=high)
    elif kind == "uniform":
        dist = Distribution("uniform", (low + high) / 2, low=low, high=high)
    elif kind == "constant":
        dist = Distribution("constant", nums["value"], low=low, high=high)
    else:
        dist = Distribution("geometric" if kind == "geometric" else "exponential", nums["mean"], low=low, high=high)
    return dist if _check_largest(r, dist, path, count=count) else _SKIP


def _check_largest(r: _Reader, d: Distribution, path: str, *, count: bool) -> bool:
    """Past a float, or a day count no timestamp holds, a draw is a traceback mid-run: refuse it here."""
    top, most = d.largest, MAX_COUNT if count else MAX_DURATION_S
    if top <= most:
        return True
    unit = "" if count else "s"
    args = {
        "constant": (d.value,),
        "exponential": (d.value,),
        "geometric": (d.value,),
        "uniform": (d.low, d.high),
        "lognormal": (d.value, d.sigma),
    }[d.kind]
    shown = ", ".join(f"{x:g}{unit if i == 0 or d.kind == 'uniform' else ''}" for i, x in enumerate(args))
    if math.isinf(top):
        reach = "more than a float holds"
    elif count:
        reach = f"{top:,.0f}" if top < 1e15 else f"{top:.3g}"
    else:
        days = top / 86_400
        reach = f"{days:,.0f} days" if days < 1e9 else f"{days:.3g} days"
    limit = f"a count is at most {MAX_COUNT:,.0f}" if count else "a duration is at most 36,525 days (100 years)"
    r.err(path, f"{d.kind}({shown}) draws up to {reach}; {limit}: make it smaller, or clamp it with max")
    return False


# --- sections ------------------------------------------------------------------------------------
