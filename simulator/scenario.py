"""Scenario files: one TOML file describes a whole simulated traffic, parsed into frozen dataclasses.

A scenario names the app (``[app]``), the devices (``[population]``), what they do
(``[journey]``), how hard to push (``[load]``), what counts as a pass (``[slo]``) and where the
traffic goes (``[target]``); how the app's SDK behaves on the network (``[client]``: timeouts,
retries, offline queues) and the calendar of generated datasets (``[time]``: daily and weekly
curves in local time, install growth, churn, campaign days).

Every problem of a file is reported at once, each naming the file, the field path and the
offending value, with a did-you-mean hint for typos; unknown keys are errors. ``[app]`` and
``[population]`` are read generically from their dataclasses' fields, so a field added to
``simulator.population`` is a scenario option without a change here.

The format is documented with an annotated example in ``scenarios/README.md``.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from simulator import contract
from simulator.duration import parse_duration
from simulator.population import AppConfig, PopulationConfig

__all__ = [
    "ACTIONS",
    "DEFAULT_EVENT_NAMES",
    "AttributionConfig",
    "Campaign",
    "ClientConfig",
    "CommerceConfig",
    "Distribution",
    "ErrorRateSLO",
    "FaultyConfig",
    "IdentifyConfig",
    "JourneyConfig",
    "LatencySLO",
    "LoadConfig",
    "OfflineConfig",
    "ReinstallConfig",
    "RetryConfig",
    "SLOConfig",
    "Scenario",
    "ScenarioError",
    "ScenarioProblem",
    "Stage",
    "State",
    "TargetConfig",
    "TimeConfig",
    "Transition",
    "bundled_scenarios",
    "load_scenario",
    "parse_duration",
    "parse_scenario",
    "scenario_dir",
    "validate_scenario",
]

#: What entering a journey state sends. ``none`` is a screen that sends nothing.
ACTIONS: tuple[str, ...] = (
    "none",
    "event",
    "identify",
    "search",
    "view_item",
    "add_to_cart",
    "begin_checkout",
    "purchase",
)
#: The event name each action sends unless the state or ``[journey.event_names]`` says otherwise:
#: the reference's examples plus the lifecycle events a journey needs.
DEFAULT_EVENT_NAMES: dict[str, str] = {
    "event": "Screen View",
    "search": "Search",
    "view_item": "View Item",
    "add_to_cart": "Add to Cart",
    "begin_checkout": "Begin Checkout",
    "purchase": "Purchase",
}
#: Faulty-SDK mistakes, each of which the contract rejects (see ``simulator.journey``).
FAULT_KINDS: tuple[str, ...] = (
    "missing_sid",
    "local_added_at",
    "string_age",
    "missing_identify_by",
    "string_price",
    "string_limit_ad_tracking",
    "missing_uid",
)
#: Local currency units per US dollar (approximate, 2024), for catalogue prices in USD.
USD_RATES: dict[str, float] = {
    "USD": 1.0,
    "EUR": 0.92,
    "GBP": 0.79,
    "INR": 83.3,
    "JPY": 151.0,
    "CAD": 1.36,
    "AUD": 1.52,
    "NZD": 1.65,
    "BRL": 5.0,
    "MXN": 17.0,
    "ARS": 870.0,
    "CLP": 930.0,
    "COP": 3900.0,
    "KRW": 1350.0,
    "CNY": 7.2,
    "HKD": 7.8,
    "TWD": 32.0,
    "SGD": 1.35,
    "IDR": 15800.0,
    "PHP": 56.0,
    "VND": 25000.0,
    "THB": 36.0,
    "MYR": 4.7,
    "AED": 3.67,
    "SAR": 3.75,
    "ILS": 3.7,
    "TRY": 32.0,
    "EGP": 47.0,
    "ZAR": 18.5,
    "NGN": 1500.0,
    "KES": 130.0,
    "PKR": 278.0,
    "BDT": 110.0,
    "CHF": 0.9,
    "SEK": 10.5,
    "NOK": 10.7,
    "DKK": 6.9,
    "PLN": 4.0,
    "CZK": 23.0,
    "HUF": 360.0,
    "RON": 4.6,
    "UAH": 39.0,
}
ENDPOINT_NAMES: tuple[str, ...] = (*contract.ENDPOINT_NAMES, "total")
_FIELD_CHECKS = ("probability", "positive", "nonnegative", "percentile")


def scenario_dir() -> Path:
    """The bundled scenarios: ``<repo>/scenarios``, next to the package."""
    return Path(__file__).resolve().parent.parent / "scenarios"


# --- problems ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScenarioProblem:
    """One thing wrong with a scenario: which file, which field (``journey.transitions[2].p``), what."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}" if self.path else f"{self.file}: {self.message}"


class ScenarioError(Exception):
    """Every problem found in one or more scenario files (``problems``), one per line in ``str()``."""

    def __init__(self, problems: list[ScenarioProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(map(str, self.problems)))


# --- values --------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 60 else text[:55] + "..."


# --- dataclasses ---------------------------------------------------------------------------------


def _meta(check: str | None = None, *, duration: bool = False, doc: str = "") -> dict[str, Any]:
    return {"check": check, "duration": duration, "doc": doc}


DistKind = Literal["constant", "exponential", "lognormal", "uniform", "geometric"]


@dataclass(frozen=True, slots=True)
class Distribution:
    """A random duration or count. Written ``{dist = "lognormal", median = "2s", sigma = 0.8}`` or
    compactly ``"lognormal(2s, 0.8)"``, ``"exp(5s)"``, ``"uniform(1s, 5s)"``, ``"geometric(3)"``, ``"2s"``.
    """

    kind: DistKind = "constant"
    #: constant: the value; exponential and geometric: the mean; lognormal: the median.
    value: float = 0.0
    #: lognormal: the standard deviation of the log.
    sigma: float = 0.0
    #: uniform: the bounds; any kind: optional clamps (``low`` <= draw <= ``high``).
    low: float = 0.0
    high: float = math.inf

    def sample(self, rnd: Any) -> float:
        """One draw from a ``random.Random``."""
        k = self.kind
        if k == "constant":
            x = self.value
        elif k == "lognormal":
            x = self.value * math.exp(rnd.gauss(0.0, self.sigma))
        elif k == "exponential":
            x = rnd.expovariate(1.0 / self.value) if self.value > 0 else 0.0
        elif k == "uniform":
            return self.low + (self.high - self.low) * rnd.random()
        else:  # geometric on 1, 2, ...: the number of trials to the first success, mean = value
            p = 1.0 / self.value
            x = 1.0 if p >= 1.0 else float(1 + int(math.log(1.0 - rnd.random()) / math.log(1.0 - p)))
        return min(max(x, self.low), self.high)

    @property
    def mean(self) -> float:
        if self.kind == "lognormal":
            return self.value * math.exp(self.sigma**2 / 2)
        if self.kind == "uniform":
            return (self.low + self.high) / 2
        return self.value


@dataclass(frozen=True, slots=True)
class State:
    """A screen of the app; entering it sends what ``action`` says."""

    name: str
    #: One of ``ACTIONS``.
    action: str = "event"
    #: The event name sent (``action`` other than none/identify); default from ``event_names``.
    event: str = ""
    #: Extra event properties sent as they are, e.g. ``{description = "home"}``.
    properties: Mapping[str, Any] = field(default_factory=dict)
    #: view_item/search: draw products from these catalogue categories only (empty: all).
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Transition:
    """From a state to the next with probability ``p`` after a think time."""

    source: str
    target: str
    p: float
    think: Distribution


@dataclass(frozen=True, slots=True)
class IdentifyConfig:
    """What an identify sends: each of email and phone with its own probability (at least one)."""

    email: float = field(default=0.9, metadata=_meta("probability"))
    phone: float = field(default=0.5, metadata=_meta("probability"))


@dataclass(frozen=True, slots=True)
class ReinstallConfig:
    """Before each returning session the app may have been reinstalled: a new user id, same person."""

    probability: float = field(default=0.0, metadata=_meta("probability"))
    #: A person identified before the reinstall logs in again at once (identify after externalIds).
    relogin: float = field(default=0.8, metadata=_meta("probability"))


@dataclass(frozen=True, slots=True)
class AttributionConfig:
    """A share of sessions opened from an ad click or deep link, with utm_params and one click id."""

    share: float = field(default=0.0, metadata=_meta("probability"))
    #: utm_source -> weight. Known sources get an agreeing click id (google: gclid, or wbraid on
    #: iOS; facebook/instagram: fbclid; bing: msclkid); others get a gclid-less deep link.
    sources: Mapping[str, float] = field(
        default_factory=lambda: {"google": 0.5, "facebook": 0.3, "instagram": 0.1, "bing": 0.1}
    )
    campaigns: tuple[str, ...] = ("spring_sale", "retargeting", "brand", "new_arrivals")


@dataclass(frozen=True, slots=True)
class FaultyConfig:
    """A share of devices run a faulty SDK; ``rate`` of their requests are malformed (expect a 400)."""

    share: float = field(default=0.0, metadata=_meta("probability"))
    rate: float = field(default=0.5, metadata=_meta("probability"))
    #: Which mistakes (``FAULT_KINDS``); empty means all.
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CommerceConfig:
    """Orders: catalogue prices in USD converted to the device's currency."""

    tax_rate: float = field(default=0.08, metadata=_meta("probability"))
    shipping_usd: float = field(default=4.99, metadata=_meta("nonnegative"))
    free_shipping_over_usd: float = field(default=50.0, metadata=_meta("nonnegative"))
    #: Share of orders with a coupon; coupon code -> discount as a share of the subtotal.
    coupon_share: float = field(default=0.2, metadata=_meta("probability"))
    coupons: Mapping[str, float] = field(default_factory=lambda: {"SAVE10": 0.10, "WELCOME15": 0.15, "VIP20": 0.20})
    affiliation: str = "In-App Store"
    max_quantity: int = field(default=3, metadata=_meta("positive"))
    #: Local currency units per USD; a currency not listed is priced 1:1.
    usd_rates: Mapping[str, float] = field(default_factory=lambda: dict(USD_RATES))


@dataclass(frozen=True, slots=True)
class JourneyConfig:
    """The session state machine and the life of a device around it."""

    start: str
    states: Mapping[str, State]
    transitions: tuple[Transition, ...]
    #: Sessions in a device's life (at least 1).
    sessions: Distribution = Distribution("geometric", 3.0)
    #: Time between sessions, from the last request of one to the first of the next; a gap
    #: shorter than ``session_timeout`` is stretched to it.
    session_gap: Distribution = Distribution("lognormal", 6 * 3600.0, 1.2)
    #: Inactivity that ends a session: a longer think time starts a new one.
    session_timeout: float = 1800.0
    #: Think time of a transition that does not give one.
    think: Distribution = Distribution("lognormal", 3.0, 0.8)
    #: A session ends after this many steps whatever its transitions say.
    max_steps: int = 200
    identify: IdentifyConfig = IdentifyConfig()
    reinstall: ReinstallConfig = ReinstallConfig()
    attribution: AttributionConfig = AttributionConfig()
    faulty: FaultyConfig = FaultyConfig()
    commerce: CommerceConfig = CommerceConfig()
    event_names: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_EVENT_NAMES))

    def outgoing(self, state: str) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if t.source == state)


@dataclass(frozen=True, slots=True)
class Stage:
    """One step of a load profile: hold ``users`` (closed) or ``rate`` (open) for ``duration``."""

    duration: float = field(metadata=_meta("positive", duration=True))
    users: int | None = field(default=None, metadata=_meta("nonnegative"))
    rate: float | None = field(default=None, metadata=_meta("nonnegative"))
    spawn_rate: float | None = field(default=None, metadata=_meta("positive"))


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """How hard to push, for ``loadsim run``."""

    #: closed: ``users`` devices with think times; open: ``rate`` arrivals per second.
    model: Literal["closed", "open"] = "closed"
    users: int = field(default=10, metadata=_meta("positive"))
    #: Open model: arrivals per second of ``rate_unit``.
    rate: float | None = field(default=None, metadata=_meta("positive"))
    rate_unit: Literal["sessions", "requests"] = "sessions"
    run_time: float = field(default=30.0, metadata=_meta("positive", duration=True))
    spawn_rate: float = field(default=10.0, metadata=_meta("positive"))
    #: Ramps: each stage holds its users/rate for its duration, in order.
    stages: tuple[Stage, ...] = ()
    #: A repeating curve of multipliers of users/rate (e.g. 24 hourly values of a day) ...
    curve: tuple[float, ...] = ()
    #: ... played over this period (a simulated day compressed into an hour: "1h").
    curve_period: float = field(default=86400.0, metadata=_meta("positive", duration=True))
    #: Real time = journey think time x this (0 sends as fast as the target answers).
    think_time_scale: float = field(default=1.0, metadata=_meta("nonnegative"))
    #: Real time waited between a device's sessions at most (their simulated gap is hours).
    max_session_gap: float = field(default=0.0, metadata=_meta("nonnegative", duration=True))


@dataclass(frozen=True, slots=True)
class LatencySLO:
    """``percentile`` of latency (or service time) of ``endpoint`` (or a step) at most ``max_ms``."""

    percentile: float = field(metadata=_meta("percentile"))
    max_ms: float = field(metadata=_meta("positive"))
    #: externalIds, identify, events or total.
    endpoint: str = "total"
    #: A request name instead of an endpoint, e.g. ``event:Purchase``.
    step: str | None = None
    metric: Literal["latency", "service_time"] = "latency"


@dataclass(frozen=True, slots=True)
class ErrorRateSLO:
    """Failures / requests of ``endpoint`` at most ``max`` (expected rejections are not failures)."""

    max: float = field(metadata=_meta("probability"))
    endpoint: str = "total"
    step: str | None = None


@dataclass(frozen=True, slots=True)
class SLOConfig:
    """Pass/fail criteria, evaluated by the report."""

    latency: tuple[LatencySLO, ...] = ()
    error_rate: tuple[ErrorRateSLO, ...] = ()
    #: Achieved requests per second at least this.
    min_rate: float | None = field(default=None, metadata=_meta("nonnegative"))
    #: Open model: arrivals that found no free user at most this many.
    max_dropped: int | None = field(default=None, metadata=_meta("nonnegative"))
    #: What the mock stored must equal what got a 200.
    reconciliation: bool = False
    #: Evaluate during the run and stop at the first failure after ``grace``.
    abort_on_fail: bool = False
    grace: float = field(default=30.0, metadata=_meta("nonnegative", duration=True))
    #: Completion, judged in every run unless ``completion = false``: no request waited longer than
    #: this for its answer (an attempt answered late, failed late, or still unanswered at the stop).
    max_wait: float = field(default=5.0, metadata=_meta("positive", duration=True))
    #: Open model: arrivals handed to users at least this share of the arrivals the stages planned.
    min_rate_share: float = field(default=0.9, metadata=_meta("probability"))
    #: Open model: arrivals that found no free user at most this share of all arrivals.
    max_dropped_share: float = field(default=0.01, metadata=_meta("probability"))
    #: Judge completion (``max_wait``, ``min_rate_share``, ``max_dropped_share``).
    completion: bool = True
    #: The load generator's CPU (percent of one core, busiest process) that makes it saturated:
    #: its latency figures then include its own queueing. ``warn`` names it beside the verdict;
    #: ``fail`` fails the run.
    max_generator_cpu: float = field(default=90.0, metadata=_meta("positive"))
    generator_saturation: Literal["warn", "fail"] = "warn"


@dataclass(frozen=True, slots=True)
class TargetConfig:
    """Where the traffic goes. ``mock`` is started on a free loopback port unless ``host`` names one."""

    kind: Literal["mock", "customerlabs"] = "mock"
    #: A base URL for the mock (an already running one); empty: start one.
    host: str = ""
    #: customerlabs: the source's events webhook URL (a secret: prefer ``webhook_url_env``).
    webhook_url: str = ""
    #: ... or the environment variable holding it.
    webhook_url_env: str = ""
    #: customerlabs: requests per second never exceeded (required).
    rate_cap: float | None = field(default=None, metadata=_meta("positive"))
    #: customerlabs: must be true here or confirmed on the command line.
    confirm: bool = False
    #: Options of the embedded mock (latency, faults), passed to it as they are.
    mock: Mapping[str, Any] = field(default_factory=dict)

    def resolved_webhook_url(self) -> str:
        return self.webhook_url or (os.environ.get(self.webhook_url_env, "") if self.webhook_url_env else "")


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """How the app's SDK retries a failed send (``[client.retry]``)."""

    #: Attempts in all, the first included: 1 never retries.
    max_attempts: int = field(default=1, metadata=_meta("positive"))
    #: Wait before retry n: ``min(max_backoff, base * multiplier ** (n - 1))``, then jittered.
    base: float = field(default=0.5, metadata=_meta("positive", duration=True))
    multiplier: float = field(default=2.0, metadata=_meta("positive"))
    max_backoff: float = field(default=30.0, metadata=_meta("positive", duration=True))
    #: full: uniform in [0, wait]; equal: uniform in [wait/2, wait]; none: the wait itself.
    jitter: Literal["full", "equal", "none"] = "full"
    #: Wait as long as a 429's or 503's Retry-After says, when it says longer.
    honour_retry_after: bool = True
    #: What is retried: HTTP statuses, ``"connection"`` (refused, reset, garbage) and ``"timeout"``.
    on: tuple[Any, ...] = (429, 500, 502, 503, 504, "connection", "timeout")


@dataclass(frozen=True, slots=True)
class OfflineConfig:
    """Devices that lose their connection queue what they send and flush it later (``[client.offline]``)."""

    #: Share of sessions played offline: every request queued, then sent in one burst.
    share: float = field(default=0.0, metadata=_meta("probability"))
    #: How long such a session's device stays offline (real seconds in a load test).
    duration: Distribution = Distribution("lognormal", 60.0, 0.5)
    #: Requests one user's queue holds; beyond it the oldest are dropped and counted.
    queue_limit: int = field(default=1000, metadata=_meta("positive"))
    #: A request whose every attempt failed goes back to the queue and is sent again this much later.
    requeue_after: float = field(default=5.0, metadata=_meta("positive", duration=True))


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """The app's network behaviour (``[client]``): timeouts, retries, offline queues."""

    #: Seconds to wait for an answer before the request counts as timed out.
    timeout: float = field(default=30.0, metadata=_meta("positive", duration=True))
    connect_timeout: float = field(default=10.0, metadata=_meta("positive", duration=True))
    #: Events the app holds and sends together: a session's events go out in groups of this many,
    #: back to back, each with the time it happened (1: each as it happens). Session starts and
    #: identifies are never held; what is held goes first, so a device's order is kept.
    batch: int = field(default=1, metadata=_meta("positive"))
    retry: RetryConfig = RetryConfig()
    offline: OfflineConfig = OfflineConfig()


RETRYABLE_ERRORS = ("connection", "timeout")


#: Session starts per local hour (0-23) of a device: quiet nights, a lunch bump, an evening peak.
DEFAULT_DAILY: tuple[float, ...] = (
    0.25,
    0.14,
    0.09,
    0.07,
    0.07,
    0.11,
    0.28,
    0.55,
    0.8,
    0.88,
    0.92,
    0.98,
    1.12,
    1.02,
    0.94,
    0.94,
    1.0,
    1.12,
    1.32,
    1.62,
    1.86,
    1.9,
    1.5,
    0.82,
)
#: Per local weekday, Monday first: a little busier towards and over the weekend.
DEFAULT_WEEKLY: tuple[float, ...] = (0.94, 0.92, 0.95, 0.98, 1.05, 1.12, 1.04)


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign day (a flash sale): more sessions, more installs, more of them converting."""

    #: The simulated day, 1 = the first, in each device's local calendar.
    day: int = field(metadata=_meta("positive"))
    name: str = "campaign"
    #: Multiplies the rate of returning sessions that day.
    sessions: float = field(default=3.0, metadata=_meta("positive"))
    #: Multiplies that day's share of installs.
    installs: float = field(default=1.0, metadata=_meta("positive"))
    #: Multiplies the probability of every transition into an add_to_cart, begin_checkout or
    #: purchase state in sessions started that day (a state's outgoing total is capped at 1).
    conversion: float = field(default=1.5, metadata=_meta("positive"))


@dataclass(frozen=True, slots=True)
class TimeConfig:
    """The calendar of a generated dataset (``loadsim generate``): simulated days, not real seconds.

    Session starts follow ``daily`` x ``weekly`` in each device's local time zone; a device's
    returning sessions come at the journey's mean ``session_gap`` on average, shaped by the curves.
    """

    #: The first simulated day (ISO date), from local midnight in each device's time zone.
    start: str = "2026-01-01"
    days: int = field(default=7, metadata=_meta("positive"))
    #: 24 weights, one per local hour (only their shape matters).
    daily: tuple[float, ...] = DEFAULT_DAILY
    #: 7 weights, Monday first.
    weekly: tuple[float, ...] = DEFAULT_WEEKLY
    #: Installs spread over the days, each day this much more than the one before (0.03 = +3 %).
    install_growth: float = 0.03
    #: The chance, per day since install, that a device never comes back.
    churn: float = field(default=0.1, metadata=_meta("probability"))
    campaigns: tuple[Campaign, ...] = ()

    def start_date(self) -> datetime.date:
        return datetime.date.fromisoformat(self.start)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One parsed scenario file."""

    name: str
    description: str
    seed: int
    app: AppConfig
    population: PopulationConfig
    journey: JourneyConfig
    load: LoadConfig
    slo: SLOConfig
    target: TargetConfig
    #: The calendar of generated datasets (``[time]``).
    time: TimeConfig = TimeConfig()
    client: ClientConfig = ClientConfig()
    #: The file it came from (None when parsed from a string).
    path: Path | None = None


# --- the reader ----------------------------------------------------------------------------------


class _Reader:
    """Collects every problem of one file while converting its tables."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[ScenarioProblem] = []

    def err(self, path: str, message: str) -> None:
        self.problems.append(ScenarioProblem(self.file, path, message))

    def unknown(self, path: str, key: str, allowed: typing.Iterable[str]) -> None:
        allowed = list(allowed)
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"expected one of {', '.join(allowed)}"
        self.err(_join(path, key), f"unknown key; {hint}")

    def table(self, value: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.err(path, f"expected a table, got {_show(value)}")
            return None
        return value


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
        return _distribution(r, value, path)
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
        for k, v in table.items():
            if val_tp is float and isinstance(v, int | float) and not isinstance(v, bool) and v < 0:
                r.err(_join(path, k), f"expected a weight of at least 0, got {_show(v)}")
                continue
            c = _convert(r, v, val_tp, _join(path, k), meta if meta.get("check") == "probability" else {})
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
_DIST_ARGS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "exponential": ("mean",),
    "exp": ("mean",),
    "lognormal": ("median", "sigma"),
    "uniform": ("min", "max"),
    "geometric": ("mean",),
}
_DIST_KEYS = ("dist", "value", "mean", "median", "sigma", "min", "max")


def _distribution(r: _Reader, value: Any, path: str) -> Any:
    """A Distribution from ``"lognormal(2s, 0.8)"``-style text, a bare duration or a table."""
    if isinstance(value, str) and (m := _DIST_CALL.match(value)):
        kind = m.group(1)
        if kind not in _DIST_ARGS:
            close = difflib.get_close_matches(kind, _DIST_ARGS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            r.err(path, f"unknown distribution {_show(kind)}{hint}")
            return _SKIP
        parts = [p.strip() for p in m.group(2).split(",")] if m.group(2).strip() else []
        names = _DIST_ARGS[kind]
        if len(parts) != len(names):
            r.err(path, f"{kind}() takes {len(names)} argument(s) ({', '.join(names)}), got {_show(value)}")
            return _SKIP
        table: dict[str, Any] = {"dist": kind, **dict(zip(names, parts, strict=True))}
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        table = {"dist": "constant", "value": value}
    elif isinstance(value, dict):
        table = value
    else:
        r.err(path, f'expected a distribution such as "lognormal(2s, 0.8)" or a table, got {_show(value)}')
        return _SKIP
    kind = table.get("dist", "constant")
    kind = "exponential" if kind == "exp" else kind
    if kind not in _DIST_ARGS:
        close = difflib.get_close_matches(str(kind), _DIST_ARGS, n=1)
        r.err(
            _join(path, "dist"),
            f"unknown distribution {_show(kind)}"
            + (f"; did you mean '{close[0]}'?" if close else f"; expected one of {', '.join(_DIST_ARGS)}"),
        )
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
        try:
            nums[k] = parse_duration(v)
        except ValueError:
            r.err(_join(path, k), f"expected a number or a duration such as 2s, got {_show(v)}")
            ok = False
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
    if kind == "constant":
        return Distribution("constant", nums["value"], low=low, high=high)
    if kind == "exponential":
        return Distribution("exponential", nums["mean"], low=low, high=high)
    if kind == "geometric":
        if nums["mean"] < 1:
            r.err(_join(path, "mean"), f"a geometric count has a mean of at least 1, got {nums['mean']:g}")
            return _SKIP
        return Distribution("geometric", nums["mean"], low=low, high=high)
    if kind == "uniform":
        return Distribution("uniform", (low + high) / 2, low=low, high=high)
    return Distribution("lognormal", nums["median"], nums["sigma"], low=low, high=high)


# --- sections ------------------------------------------------------------------------------------

_TOP_KEYS = ("name", "description", "seed", "app", "population", "journey", "load", "slo", "target", "time", "client")
_STATE_KEYS = ("action", "event", "properties", "categories", "next")
_TRANSITION_KEYS = ("from", "to", "p", "think")
_JOURNEY_EXTRA = ("states", "transitions")


def _journey(r: _Reader, raw: Any) -> JourneyConfig | None:
    table = r.table(raw, "journey")
    if table is None:
        return None
    simple = {k: v for k, v in table.items() if k not in _JOURNEY_EXTRA}
    # Everything but the graph goes through the generic reader; start is checked below.
    base = _dataclass(r, _JourneyBase, simple, "journey")

    states: dict[str, State] = {}
    raw_states = table.get("states")
    if raw_states is None:
        r.err("journey.states", 'required: at least one state, e.g. [journey.states] home = {action = "event"}')
    elif (st := r.table(raw_states, "journey.states")) is not None:
        if not st:
            r.err("journey.states", "expected at least one state")
        for name, spec in st.items():
            p = f"journey.states.{name}"
            spec_t = r.table(spec, p)
            if spec_t is None:
                continue
            bad = [k for k in spec_t if k not in _STATE_KEYS]
            for k in bad:
                r.unknown(p, k, _STATE_KEYS)
            action = spec_t.get("action", "event")
            if action not in ACTIONS:
                close = difflib.get_close_matches(str(action), ACTIONS, n=1)
                r.err(
                    f"{p}.action",
                    f"unknown action {_show(action)}; "
                    + (f"did you mean '{close[0]}'?" if close else f"expected one of {', '.join(ACTIONS)}"),
                )
                continue
            event = spec_t.get("event", "")
            if not isinstance(event, str):
                r.err(f"{p}.event", f"expected an event name, got {_show(event)}")
                continue
            if "event" in spec_t and not event.strip():
                r.err(f"{p}.event", "expected a non-empty event name")
            props = spec_t.get("properties", {})
            if not isinstance(props, dict):
                r.err(f"{p}.properties", f"expected a table, got {_show(props)}")
                continue
            cats = spec_t.get("categories", [])
            if not (isinstance(cats, list) and all(isinstance(c, str) for c in cats)):
                r.err(f"{p}.categories", f"expected an array of category names, got {_show(cats)}")
                continue
            if not bad:
                states[name] = State(name, action, event, props, tuple(cats))

    transitions: list[Transition] = []
    default_think = base.think if base not in (_SKIP, None) else _JourneyBase.think
    raw_tr = table.get("transitions", [])
    if not isinstance(raw_tr, list):
        r.err("journey.transitions", f"expected an array of tables, got {_show(raw_tr)}")
        raw_tr = []
    # (path, spec, compact): compact entries name their target by key, maybe their probability by value
    specs: list[tuple[str, Any, int]] = [(f"journey.transitions[{i}]", t, 0) for i, t in enumerate(raw_tr)]
    # The compact form: [journey.states.home] next = {product = 0.45, login = {p = 0.08, think = "5s"}}
    for name, spec in (raw_states or {}).items() if isinstance(raw_states, dict) else ():
        nxt = spec.get("next") if isinstance(spec, dict) else None
        if nxt is None:
            continue
        if not isinstance(nxt, dict):
            r.err(f"journey.states.{name}.next", f"expected a table of state = probability, got {_show(nxt)}")
            continue
        for target, v in nxt.items():
            t_spec = {"from": name, "to": target, **(v if isinstance(v, dict) else {"p": v})}
            specs.append((f"journey.states.{name}.next.{target}", t_spec, 1 if isinstance(v, dict) else 2))
    for p, spec, compact in specs:
        t = r.table(spec, p)
        if t is None:
            continue
        ok = True
        for k in t:
            if k not in _TRANSITION_KEYS:
                r.unknown(p, k, _TRANSITION_KEYS)
                ok = False
        ends = []
        for k in ("from", "to"):
            v = t.get(k)
            if v is None:
                r.err(f"{p}.{k}", "required key is missing")
                ok = False
            elif not isinstance(v, str):
                r.err(f"{p}.{k}", f"expected a state name, got {_show(v)}")
                ok = False
            elif raw_states is not None and isinstance(raw_states, dict) and v not in raw_states:
                close = difflib.get_close_matches(v, list(raw_states), n=1)
                r.err(
                    p if compact else f"{p}.{k}",
                    f"unknown state {_show(v)}; "
                    + (f"did you mean '{close[0]}'?" if close else f"states are {', '.join(raw_states)}"),
                )
                ok = False
            ends.append(v)
        if "p" not in t:
            r.err(f"{p}.p", "required key is missing (the probability of taking this transition)")
            ok = False
            prob: Any = _SKIP
        else:
            prob = _convert(r, t["p"], float, p if compact == 2 else f"{p}.p", {"check": "probability"})
        think = _distribution(r, t["think"], f"{p}.think") if "think" in t else default_think
        if ok and prob is not _SKIP and think is not _SKIP:
            transitions.append(Transition(ends[0], ends[1], prob, think))

    sums: dict[str, float] = {}
    for tr in transitions:
        sums[tr.source] = sums.get(tr.source, 0.0) + tr.p
    for source, total in sums.items():
        if total > 1.0 + 1e-9:
            r.err(
                "journey.transitions",
                f"transitions from {_show(source)} sum to {total:g}; at most 1 (what is left over ends the session)",
            )

    start = table.get("start") or (next(iter(raw_states)) if isinstance(raw_states, dict) and raw_states else "")
    if isinstance(raw_states, dict) and isinstance(start, str) and start and start not in raw_states:
        close = difflib.get_close_matches(start, list(raw_states), n=1)
        r.err(
            "journey.start",
            f"unknown state {_show(start)}; "
            + (f"did you mean '{close[0]}'?" if close else f"states are {', '.join(raw_states)}"),
        )
    if base in (_SKIP, None):
        return None
    for k, v in base.event_names.items():
        if k not in DEFAULT_EVENT_NAMES:
            r.unknown("journey.event_names", k, DEFAULT_EVENT_NAMES)
        elif not v.strip():
            r.err(f"journey.event_names.{k}", "expected a non-empty event name")
    for i, kind in enumerate(base.faulty.kinds):
        if kind not in FAULT_KINDS:
            close = difflib.get_close_matches(kind, FAULT_KINDS, n=1)
            r.err(
                f"journey.faulty.kinds[{i}]",
                f"unknown fault {_show(kind)}; "
                + (f"did you mean '{close[0]}'?" if close else f"expected one of {', '.join(FAULT_KINDS)}"),
            )
    if base.attribution.share > 0 and not any(w > 0 for w in base.attribution.sources.values()):
        r.err("journey.attribution.sources", "expected at least one source with a weight above 0")
    if not base.attribution.campaigns:
        r.err("journey.attribution.campaigns", "expected at least one campaign name")
    if not base.commerce.coupons and base.commerce.coupon_share > 0:
        r.err("journey.commerce.coupons", "expected at least one coupon when coupon_share is above 0")
    for code, share in base.commerce.coupons.items():
        if not 0 <= share < 1:
            r.err(f"journey.commerce.coupons.{code}", f"expected a discount share in [0, 1), got {share:g}")
    names = dict(DEFAULT_EVENT_NAMES)
    names.update(base.event_names)
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(_JourneyBase)}
    fields.update(start=start, event_names=names)
    return JourneyConfig(states=states, transitions=tuple(transitions), **fields)


@dataclass(frozen=True, slots=True)
class _JourneyBase:
    """The ``[journey]`` keys other than the graph, read generically (see ``JourneyConfig``)."""

    start: str = ""
    sessions: Distribution = Distribution("geometric", 3.0)
    session_gap: Distribution = Distribution("lognormal", 6 * 3600.0, 1.2)
    session_timeout: float = field(default=1800.0, metadata=_meta("positive", duration=True))
    think: Distribution = Distribution("lognormal", 3.0, 0.8)
    max_steps: int = field(default=200, metadata=_meta("positive"))
    identify: IdentifyConfig = IdentifyConfig()
    reinstall: ReinstallConfig = ReinstallConfig()
    attribution: AttributionConfig = AttributionConfig()
    faulty: FaultyConfig = FaultyConfig()
    commerce: CommerceConfig = CommerceConfig()
    event_names: Mapping[str, str] = field(default_factory=dict)


def _check_load(r: _Reader, load: LoadConfig) -> None:
    if load.model == "open" and load.rate is None and not any(s.rate is not None for s in load.stages):
        r.err("load.rate", 'required when model = "open" (arrivals per second), or give each stage a rate')
    for i, s in enumerate(load.stages):
        if s.users is None and s.rate is None:
            r.err(f"load.stages[{i}]", "expected users (closed model) or rate (open model)")
    for i, x in enumerate(load.curve):
        if x < 0:
            r.err(f"load.curve[{i}]", f"expected a multiplier of at least 0, got {x:g}")


def _check_slo(r: _Reader, slo: SLOConfig) -> None:
    for kind, entries in (("latency", slo.latency), ("error_rate", slo.error_rate)):
        for i, e in enumerate(entries):
            if e.endpoint not in ENDPOINT_NAMES:
                close = difflib.get_close_matches(e.endpoint, ENDPOINT_NAMES, n=1)
                r.err(
                    f"slo.{kind}[{i}].endpoint",
                    f"unknown endpoint {_show(e.endpoint)}; "
                    + (f"did you mean '{close[0]}'?" if close else f"expected one of {', '.join(ENDPOINT_NAMES)}"),
                )


_WEBHOOK_RE = re.compile(r"https?://[^\s/]+(/\S*)?\Z")


def _check_target(r: _Reader, target: TargetConfig) -> None:
    if target.webhook_url and not _WEBHOOK_RE.match(target.webhook_url):
        r.err("target.webhook_url", "expected an http(s) URL (the secret part is never printed)")
    if target.host and not _WEBHOOK_RE.match(target.host):
        r.err("target.host", f"expected a base URL such as http://127.0.0.1:8089, got {_show(target.host)}")
    if target.kind == "customerlabs":
        if not (target.webhook_url or target.webhook_url_env):
            r.err(
                "target.webhook_url",
                'required when kind = "customerlabs": the events webhook URL of '
                "your source (Sources -> your mobile source -> Source Configuration), or webhook_url_env",
            )
        if target.rate_cap is None:
            r.err("target.rate_cap", 'required when kind = "customerlabs": the most requests per second to send')
    _check_mock(r, target.mock)


#: Keys of ``[target.mock]``: the embedded mock's flags (``error_rate`` is ``--error-rate``), and
#: an outage the runner plays through the mock's admin API (seconds after the load starts).
MOCK_FLAGS = ("latency", "error_rate", "retry_after", "hold_rate", "reset_rate", "drop_rate", "freeze_at", "freeze_for")
MOCK_OUTAGE = ("outage_at", "outage_for", "outage_status")
#: What an outage does: answer every request with one of these statuses, or ``"refuse"``
#: connections (the collector is down: connects get ECONNREFUSED).
OUTAGE_STATUSES = (429, 500, 502, 503, "refuse")


def _check_mock(r: _Reader, options: Mapping[str, Any]) -> None:
    allowed = (*MOCK_FLAGS, *MOCK_OUTAGE)
    for key, value in options.items():
        path = f"target.mock.{key}"
        if key not in allowed:
            r.unknown("target.mock", key, allowed)
        elif key in ("outage_at", "outage_for"):
            try:
                parse_duration(value)
            except ValueError as e:
                r.err(path, f"{e}, got {_show(value)}")
        elif key == "outage_status" and (isinstance(value, bool) or value not in OUTAGE_STATUSES):
            r.err(path, f'expected 429, 500, 502, 503 or "refuse" (connections refused), got {_show(value)}')
        elif key in MOCK_FLAGS and (isinstance(value, bool) or not isinstance(value, str | int | float | list)):
            r.err(path, f"expected a value as the mock's --{key.replace('_', '-')} flag takes it, got {_show(value)}")
    if ("outage_at" in options) != ("outage_for" in options):
        r.err("target.mock", "an outage needs both outage_at and outage_for")
    flags = {k: [str(x) for x in v] if isinstance(v, list) else str(v) for k, v in options.items() if k in MOCK_FLAGS}
    if flags and not r.problems:
        from simulator.mock.faults import FaultConfig, FaultError  # the mock's own reading of its flags

        try:
            FaultConfig.from_flags(**flags)
        except FaultError as e:
            r.err("target.mock", str(e))


def _check_client(r: _Reader, client: ClientConfig) -> None:
    for i, what in enumerate(client.retry.on):
        ok = (isinstance(what, int) and not isinstance(what, bool) and 100 <= what <= 599) or what in RETRYABLE_ERRORS
        if not ok:
            r.err(
                f"client.retry.on[{i}]",
                f"expected an HTTP status (such as 503) or one of "
                f"{', '.join(map(repr, RETRYABLE_ERRORS))}, got {_show(what)}",
            )


def _check_time(r: _Reader, t: TimeConfig) -> None:
    try:
        t.start_date()
    except ValueError:
        r.err("time.start", f'expected an ISO date such as "2026-01-05", got {_show(t.start)}')
    for key, curve, size in (("daily", t.daily, 24), ("weekly", t.weekly, 7)):
        if len(curve) != size:
            what = "one per local hour, 0 to 23" if size == 24 else "one per weekday, Monday first"
            r.err(f"time.{key}", f"expected {size} weights ({what}), got {len(curve)}")
        for i, x in enumerate(curve):
            if x < 0:
                r.err(f"time.{key}[{i}]", f"expected a weight of at least 0, got {_show(x)}")
        if curve and not any(x > 0 for x in curve):
            r.err(f"time.{key}", "expected at least one weight above 0")
    if not t.install_growth > -1:
        r.err(
            "time.install_growth",
            f"expected a daily growth above -1 (0.03 = +3 % a day), got {_show(t.install_growth)}",
        )
    seen: dict[int, int] = {}
    for i, c in enumerate(t.campaigns):
        if c.day > t.days:
            r.err(
                f"time.campaigns[{i}].day",
                f"day {c.day} is after the last simulated day ({t.days}); raise time.days or move the campaign",
            )
        if c.day in seen:
            r.err(f"time.campaigns[{i}].day", f"day {c.day} already has campaigns[{seen[c.day]}]; one campaign a day")
        seen.setdefault(c.day, i)


def _read(r: _Reader, data: dict[str, Any], default_name: str, path: Path | None) -> Scenario | None:
    for key in data:
        if key not in _TOP_KEYS:
            r.unknown("", key, _TOP_KEYS)
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        r.err("name", f"expected a non-empty string, got {_show(name)}")
    description = data.get("description", "")
    if not isinstance(description, str):
        r.err("description", f"expected a string, got {_show(description)}")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        r.err("seed", f"expected an integer from 0 to 2147483647, got {_show(seed)}")
    app = _dataclass(r, AppConfig, data.get("app", {}), "app")
    population = _dataclass(r, PopulationConfig, data.get("population", {}), "population")
    journey = _journey(r, data["journey"]) if "journey" in data else None
    if "journey" not in data:
        r.err("journey", "required: the states and transitions of a session (see scenarios/README.md)")
    # The tables read the same way: the dataclass by its fields, then the rules across fields.
    tables: dict[str, Any] = {}
    for key, cls, check in (
        ("load", LoadConfig, _check_load),
        ("slo", SLOConfig, _check_slo),
        ("target", TargetConfig, _check_target),
        ("client", ClientConfig, _check_client),
        ("time", TimeConfig, _check_time),
    ):
        tables[key] = _dataclass(r, cls, data.get(key, {}), key)
        if tables[key] is not _SKIP:
            check(r, tables[key])
    if r.problems:
        return None
    return Scenario(
        name=name,
        description=description,
        seed=seed,
        app=app,
        population=population,
        journey=journey,
        path=path,
        **tables,
    )  # type: ignore[arg-type]


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: tables merge key by key, anything else (arrays too) replaces."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _extend(data: dict[str, Any], file: str, here: Path | None, seen: tuple[Path, ...]) -> dict[str, Any]:
    """Resolve ``extends = "ecommerce"``: the named scenario's tables under this file's."""
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError(
            [ScenarioProblem(file, "extends", f"expected a scenario name or path, got {_show(parent)}")]
        )
    candidate = (here / parent) if here is not None and (here / parent).is_file() else parent
    try:
        path = _resolve(candidate).resolve()
    except ScenarioError as e:
        raise ScenarioError([ScenarioProblem(file, "extends", p.message) for p in e.problems]) from None
    if path in seen or len(seen) > 8:
        raise ScenarioError([ScenarioProblem(file, "extends", f"scenarios extend each other in a loop ({parent})")])
    try:
        base = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ScenarioError([ScenarioProblem(file, "extends", f"cannot read {path.name}: {e}")]) from None
    base = _extend(base, path.name, path.parent, (*seen, path))
    for k in ("name", "description"):
        base.pop(k, None)  # a scenario names and describes itself
    return _merge(base, data)


def parse_scenario(text: str, *, file: str = "<string>", path: Path | None = None) -> Scenario:
    """A Scenario from TOML text; ScenarioError lists every problem, each prefixed with ``file``."""
    r = _Reader(file)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError([ScenarioProblem(file, "", f"not valid TOML: {e}")]) from None
    here = path.resolve().parent if path is not None else None
    data = _extend(data, file, here, (path.resolve(),) if path is not None else ())
    default_name = Path(file).stem if file != "<string>" else "scenario"
    scenario = _read(r, data, default_name, path)
    if scenario is None:
        raise ScenarioError(r.problems)
    return scenario


def _resolve(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if isinstance(name_or_path, str) and p.suffix != ".toml" and len(p.parts) == 1:
        bundled = scenario_dir() / f"{name_or_path}.toml"
        if bundled.is_file():
            return bundled
    if p.is_file():
        return p
    names = [n for n, _ in bundled_scenarios()]
    close = difflib.get_close_matches(str(name_or_path), names, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"bundled scenarios are {', '.join(names)}"
    raise ScenarioError([ScenarioProblem(str(name_or_path), "", f"no such scenario file or bundled name; {hint}")])


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A scenario by bundled name (``smoke``) or path; ScenarioError lists every problem found."""
    path = _resolve(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError([ScenarioProblem(str(path), "", f"cannot read: {e}")]) from None
    shown = path.name if path.parent == scenario_dir() else str(path)
    return parse_scenario(text, file=shown, path=path)


def validate_scenario(name_or_path: str | Path, *, devices: int = 20) -> Scenario:
    """``load_scenario`` and then play it: build the population, walk ``devices`` device lives and
    check every healthy body against the contract. What ``loadsim validate`` runs."""
    from simulator import contract
    from simulator.journey import JourneyEngine, load_products
    from simulator.population import Population

    scenario = load_scenario(name_or_path)
    file = scenario.path.name if scenario.path and scenario.path.parent == scenario_dir() else str(scenario.path)
    r = _Reader(file)
    categories = {p.category for p in load_products()}
    for name, state in scenario.journey.states.items():
        for i, c in enumerate(state.categories):
            if c not in categories:
                close = difflib.get_close_matches(c, sorted(categories), n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"the catalogue has {', '.join(sorted(categories))}"
                r.err(f"journey.states.{name}.categories[{i}]", f"unknown category {_show(c)}; {hint}")
    try:
        config = dataclasses.replace(scenario.population, devices=min(devices, scenario.population.devices))
        population = Population.build(config=config, app=scenario.app, seed=scenario.seed)
    except ValueError as e:
        # population.py names the field first ("population.att_opt_in must be ..."): use it as the path.
        text = str(e)
        head = text.split(" ", 1)[0].rstrip(":")
        path = head if head.split(".")[0] in ("population", "app") else "population"
        r.err(path, text[len(head) :].lstrip(": ") if path == head else text)
        raise ScenarioError(r.problems) from None
    engine = JourneyEngine(scenario=scenario, population=population)
    for i in range(len(population)):
        for req in engine.device_life(i):
            if req.faulty:
                continue
            for problem in contract.validate(req.endpoint, req.body):
                r.err("journey", f"device {i} step {req.step} sends an invalid body: {problem}")
                break
            if len(r.problems) >= 10:
                break
    if r.problems:
        raise ScenarioError(r.problems)
    return scenario


def bundled_scenarios() -> list[tuple[str, str]]:
    """(name, one-line description) of each bundled scenario, sorted by name."""
    out = []
    for p in sorted(scenario_dir().glob("*.toml")):
        try:
            desc = tomllib.loads(p.read_text(encoding="utf-8")).get("description", "")
        except (OSError, tomllib.TOMLDecodeError):
            desc = "(unreadable: run loadsim validate)"
        out.append((p.stem, str(desc).strip().splitlines()[0] if str(desc).strip() else ""))
    return out
