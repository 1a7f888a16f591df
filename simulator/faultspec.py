"""The grammar of the mock collector's faults: latency, errors, held requests, resets, drops, a freeze.

Configured per endpoint by flags (``--latency identify=lognormal:median=40ms,p99=400ms``) or at
runtime by ``PUT /_admin/faults``; every draw comes from one ``random.Random(seed)``, so a seed and
the order of requests reproduce the same faults.

Latency specs: ``123ms`` (fixed), ``uniform:10ms-50ms``, ``lognormal:median=40ms,p99=400ms``.
Durations take ``us``, ``ms``, ``s`` or ``m``. Error rates: ``0.05`` (500s) or ``0.05:429``.

Pure parsing and validation, importing only the contract and the duration grammar: the scenario
reader checks ``[target.mock]`` with it, and the mock (``simulator.mock.faults``) draws from it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from simulator import duration
from simulator.contract import ENDPOINT_NAMES

__all__ = [
    "ERROR_STATUSES",
    "MAX_REFUSE_S",
    "EndpointFaults",
    "FaultConfig",
    "FaultError",
    "Latency",
]

#: Statuses an injected error may carry; 429 and 503 come with a Retry-After header.
ERROR_STATUSES = (429, 500, 502, 503, 504)
#: The longest injected delay, freeze or Retry-After: a typo must not stall the mock for a year.
MAX_DELAY_S = 3600.0
#: The longest outage or refusal one call may ask for: a typo should not take the mock down for a day.
MAX_REFUSE_S = 3600.0
#: The latest start of a freeze, in seconds after the configuration is applied.
MAX_FREEZE_AT_S = 7 * 86400.0
#: What the admin API says to a freeze given half (the command line names its flags instead).
_FREEZE_PAIR = 'a freeze needs both freeze_at and freeze_for (e.g. "10s" and "5s")'
# z of the 99th percentile of a standard normal: sigma = ln(p99 / median) / Z99.
_Z99 = 2.3263478740408408


class FaultError(ValueError):
    """A fault specification that cannot be understood; the message says what to write instead."""


def _seconds(text: str | float, *, latency: bool = False) -> float:
    """``duration.parse_duration`` (a bare number is seconds, but a latency needs a unit), its
    error a FaultError."""
    try:
        return duration.parse_duration(text, bare=None if latency else "s")
    except ValueError as e:
        raise FaultError(f"cannot read duration {text!r}: {e}") from None


def _fmt(seconds: float) -> str:
    return f"{seconds * 1000:g}ms"


@dataclass(frozen=True, slots=True)
class Latency:
    """A latency distribution; times in seconds."""

    kind: Literal["fixed", "uniform", "lognormal"]
    #: fixed: the delay; uniform: the low end; lognormal: the median.
    a: float
    #: uniform: the high end; lognormal: the 99th percentile.
    b: float = 0.0

    def __post_init__(self) -> None:
        for value in (self.a, self.b):
            if not 0.0 <= value <= MAX_DELAY_S:  # also NaN and infinity
                raise FaultError(f"latency {self}: each time must be between 0 and {MAX_DELAY_S:g} s")

    @classmethod
    def parse(cls, spec: str) -> Latency:
        s = spec.strip()
        try:
            if s.startswith("uniform:"):
                lo, sep, hi = s[len("uniform:") :].partition("-")
                if not sep:
                    raise FaultError("")
                low, high = _seconds(lo, latency=True), _seconds(hi, latency=True)
                if high < low:
                    raise FaultError(f"latency {spec!r}: the high end is below the low end")
                return cls("uniform", low, high)
            if s.startswith("lognormal:"):
                parts = dict(p.split("=", 1) for p in s[len("lognormal:") :].split(","))
                median, p99 = _seconds(parts["median"], latency=True), _seconds(parts["p99"], latency=True)
                if not 0 < median <= p99:
                    raise FaultError(f"latency {spec!r}: need 0 < median <= p99")
                return cls("lognormal", median, p99)
            return cls("fixed", _seconds(s, latency=True))
        except FaultError as exc:
            if str(exc).startswith("latency"):
                raise
        except (ValueError, KeyError):
            pass
        raise FaultError(
            f"cannot read latency {spec!r}: write '123ms', 'uniform:10ms-50ms' or "
            "'lognormal:median=40ms,p99=400ms', optionally after an endpoint name ('identify=...')"
        )

    def sample(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        sigma = math.log(self.b / self.a) / _Z99
        return min(MAX_DELAY_S, rng.lognormvariate(math.log(self.a), sigma))  # its tail is unbounded

    def __str__(self) -> str:
        if self.kind == "fixed":
            return _fmt(self.a)
        if self.kind == "uniform":
            return f"uniform:{_fmt(self.a)}-{_fmt(self.b)}"
        return f"lognormal:median={_fmt(self.a)},p99={_fmt(self.b)}"


@dataclass(frozen=True, slots=True)
class EndpointFaults:
    """The faults of one endpoint. Rates are probabilities per request, drawn in this order:
    reset, hold, error, drop; latency applies to every answer that is sent."""

    #: Delay before the answer (after the body was processed and stored).
    latency: Latency | None = None
    #: Share of requests answered with ``error_status`` without being processed.
    error_rate: float = 0.0
    error_status: int = 500
    #: Seconds in the Retry-After header of 429 and 503 answers.
    retry_after: float = 1.0
    #: Share of requests never answered (the client times out); not processed.
    hold_rate: float = 0.0
    #: Share of requests whose connection is reset (TCP RST) without an answer; not processed.
    reset_rate: float = 0.0
    #: Share of valid requests answered 200 but neither stored nor counted: planted data loss,
    #: for testing reconciliation.
    drop_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("error_rate", "hold_rate", "reset_rate", "drop_rate"):
            rate = getattr(self, name)
            if isinstance(rate, bool) or not (isinstance(rate, int | float) and 0.0 <= rate <= 1.0):
                raise FaultError(f"{name} must be a number between 0 and 1, got {rate!r}")
        if isinstance(self.error_status, bool) or self.error_status not in ERROR_STATUSES:
            raise FaultError(
                f"error status must be one of {', '.join(map(str, ERROR_STATUSES))}, got {self.error_status!r}"
            )
        ra = self.retry_after
        if isinstance(ra, bool) or not (isinstance(ra, int | float) and 0 <= ra <= MAX_DELAY_S):
            raise FaultError(f"retry_after must be a number of seconds between 0 and {MAX_DELAY_S:g}, got {ra!r}")

    @property
    def active(self) -> bool:
        return bool(self.latency or self.error_rate or self.hold_rate or self.reset_rate or self.drop_rate)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["latency"] = None if self.latency is None else str(self.latency)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base: EndpointFaults | None = None) -> EndpointFaults:
        """Fields given in ``data`` replace those of ``base``; ``latency`` is a spec string or null."""
        if not isinstance(data, Mapping):
            raise FaultError(f"expected an object of fault settings, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise FaultError(f"unknown fault setting(s) {sorted(unknown)}; known: {sorted(known)}")
        changes = dict(data)
        if "latency" in changes and changes["latency"] is not None:
            if not isinstance(changes["latency"], str):
                raise FaultError("latency must be a spec string such as '40ms' or null")
            changes["latency"] = Latency.parse(changes["latency"])
        return replace(base or cls(), **changes)


def _object(data: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    """``data[key]``, an object: missing or null is none. A falsy value (0, [], false) read as none
    reset the faults while the caller meant to set them."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise FaultError(f"{where}{key} must be an object of fault settings (or null: none), got {value!r}")
    return value


def _split_endpoint(spec: str) -> tuple[str | None, str]:
    """``"identify=40ms"`` -> ``("identify", "40ms")``; ``"40ms"`` -> ``(None, "40ms")``."""
    head, sep, tail = spec.partition("=")
    if sep and head.strip() in ENDPOINT_NAMES:
        return head.strip(), tail
    if sep and ":" not in head and "," not in head:
        raise FaultError(f"unknown endpoint {head.strip()!r} in {spec!r}; expected one of {', '.join(ENDPOINT_NAMES)}")
    return None, spec


def _error_rate(spec: str) -> dict[str, Any]:
    rate, _, status = spec.partition(":")
    try:
        out: dict[str, Any] = {"error_rate": float(rate)}
        if status:
            out["error_status"] = int(status)
    except ValueError:
        raise FaultError(f"cannot read error rate {spec!r}: write RATE[:STATUS], e.g. '0.05' or '0.05:429'") from None
    return out


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """All faults: a default for every endpoint, per-endpoint replacements and a freeze window."""

    default: EndpointFaults = field(default_factory=EndpointFaults)
    #: Endpoint name -> its faults (complete, not a difference from ``default``).
    endpoints: Mapping[str, EndpointFaults] = field(default_factory=dict)
    #: Seconds after the configuration is applied (server start, or the PUT) when every request
    #: starts to stall until ``freeze_at + freeze_for``; ``None`` means no freeze.
    freeze_at: float | None = None
    freeze_for: float = 0.0

    def __post_init__(self) -> None:
        if self.freeze_at is not None and not 0.0 <= self.freeze_at <= MAX_FREEZE_AT_S:
            raise FaultError(f"freeze_at must be between 0 and {MAX_FREEZE_AT_S:g} s, got {self.freeze_at!r}")
        if not 0.0 <= self.freeze_for <= MAX_DELAY_S:
            raise FaultError(f"freeze_for must be between 0 and {MAX_DELAY_S:g} s, got {self.freeze_for!r}")

    def for_endpoint(self, name: str) -> EndpointFaults:
        return self.endpoints.get(name, self.default)

    @property
    def active(self) -> bool:
        return (self.freeze_at is not None and self.freeze_for > 0) or any(
            self.for_endpoint(n).active for n in ENDPOINT_NAMES
        )

    @classmethod
    def from_flags(
        cls,
        *,
        latency: str | Iterable[str] | None = None,
        error_rate: str | Iterable[str] | None = None,
        retry_after: str | float | None = None,
        hold_rate: float | str | Iterable[str] | None = None,
        reset_rate: float | str | Iterable[str] | None = None,
        drop_rate: float | str | Iterable[str] | None = None,
        freeze_at: str | float | None = None,
        freeze_for: str | float | None = None,
    ) -> FaultConfig:
        """The command-line form. Each of latency/error_rate/*_rate takes one or more specs, each
        optionally prefixed by an endpoint (``identify=0.1``); ``;`` also separates specs."""
        settings: dict[str | None, dict[str, Any]] = {}

        def specs(value: Any) -> list[str]:
            if value is None:
                return []
            items = [value] if isinstance(value, str | int | float) else list(value)
            return [s for item in items for s in str(item).split(";") if s.strip()]

        for spec in specs(latency):
            ep, rest = _split_endpoint(spec)
            settings.setdefault(ep, {})["latency"] = rest
        for spec in specs(error_rate):
            ep, rest = _split_endpoint(spec)
            settings.setdefault(ep, {}).update(_error_rate(rest))
        for name, value in (("hold_rate", hold_rate), ("reset_rate", reset_rate), ("drop_rate", drop_rate)):
            for spec in specs(value):
                ep, rest = _split_endpoint(spec)
                try:
                    settings.setdefault(ep, {})[name] = float(rest)
                except ValueError:
                    raise FaultError(f"cannot read {name} {spec!r}: write a probability such as 0.01") from None
        if retry_after is not None:
            settings.setdefault(None, {})["retry_after"] = _seconds(retry_after)
        default = EndpointFaults.from_dict(settings.pop(None, {}))
        endpoints = {ep: EndpointFaults.from_dict(s, base=default) for ep, s in settings.items() if ep}
        if (freeze_at is None) != (freeze_for is None):
            raise FaultError("a freeze needs both --freeze-at T and --freeze-for T (e.g. 10s and 5s)")
        return cls(
            default=default,
            endpoints=endpoints,
            freeze_at=None if freeze_at is None else _seconds(freeze_at),
            freeze_for=0.0 if freeze_for is None else _seconds(freeze_for),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "default": self.default.to_dict(),
            "endpoints": {name: f.to_dict() for name, f in self.endpoints.items()},
            "freeze_at": self.freeze_at,
            "freeze_for": self.freeze_for,
        }

    @classmethod
    def from_dict(cls, data: Any) -> FaultConfig:
        """The admin API's form (what ``to_dict`` returns); missing keys mean no fault."""
        if not isinstance(data, Mapping):
            raise FaultError('expected a JSON object such as {"default": {"error_rate": 0.1}}')
        unknown = set(data) - {"default", "endpoints", "freeze_at", "freeze_for"}
        if unknown:
            raise FaultError(f"unknown key(s) {sorted(unknown)}; expected default, endpoints, freeze_at, freeze_for")
        default = EndpointFaults.from_dict(_object(data, "default"))
        eps = _object(data, "endpoints")
        if set(eps) - set(ENDPOINT_NAMES):
            raise FaultError(f"endpoints must be an object keyed by {', '.join(ENDPOINT_NAMES)}")
        endpoints = {ep: EndpointFaults.from_dict(_object(eps, ep, "endpoints."), base=default) for ep in eps}
        freeze_at, freeze_for = data.get("freeze_at"), data.get("freeze_for")
        if isinstance(freeze_at, bool) or isinstance(freeze_for, bool):
            raise FaultError("freeze_at and freeze_for are seconds (numbers) or durations ('5s')")
        try:
            fa = None if freeze_at is None else _seconds(freeze_at)
            ff = 0.0 if freeze_for is None else _seconds(freeze_for)
        except FaultError:
            raise
        except (TypeError, KeyError):
            raise FaultError("freeze_at and freeze_for are seconds (numbers) or durations ('5s')") from None
        # As from_flags refuses one without the other: alone, either is a freeze that never comes, said
        # nowhere. A freeze_for of 0 without freeze_at is what GET answers for no freeze: it reads back.
        if fa is not None and freeze_for is None:
            raise FaultError(f"{_FREEZE_PAIR}: no freeze_for")
        if fa is None and ff > 0:
            raise FaultError(f"{_FREEZE_PAIR}: no freeze_at")
        return cls(default=default, endpoints=endpoints, freeze_at=fa, freeze_for=ff)
