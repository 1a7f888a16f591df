"""The scenario model: frozen dataclasses for every table of a scenario file, and its vocabularies.

A scenario names the app (``[app]``), the devices (``[population]``), what they do
(``[journey]``), how hard to push (``[load]``), what counts as a pass (``[slo]``) and where the
traffic goes (``[target]``); how the app's SDK behaves on the network (``[client]``: timeouts,
retries, offline queues) and the calendar of generated datasets (``[time]``: daily and weekly
curves in local time, install growth, churn, campaign days).

Field metadata (``_meta``) says how the reader checks a value (``simulator.scenario.reader``).
"""

from __future__ import annotations

import datetime
import functools
import math
import os
import random
import re
import statistics
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from simulator import catalog, contract
from simulator.errors import ScenarioProblem
from simulator.population.config import AppConfig, PopulationConfig

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
#: Local currency units per US dollar, for catalogue prices in USD: the catalogue's dated table.
USD_RATES: dict[str, float] = catalog.usd_rates()
#: What an SLO's ``endpoint`` may name: an endpoint of the contract, or all of them together.
SLO_ENDPOINTS: tuple[str, ...] = (*contract.ENDPOINT_NAMES, "total")
#: The most of one product a cart line may hold: the API's limit on ``product_quantity``.
MAX_QUANTITY = int(next(f.maximum or 0 for f in contract.PRODUCT.fields if f.name == "product_quantity"))
#: The most devices a scenario's ``[population]`` has. Every Locust process of a run builds the
#: whole population (a worker plays its shard of it): about 200 bytes a device at the build's peak,
#: measured 1.9 GB and half a minute for 10 million, past what a load test needs and short of a
#: process that cannot be built. ``loadsim generate --users`` may ask for more (its own limit).
MAX_DEVICES = 10_000_000
#: The largest seed. numpy refuses a negative one (mid-run, in every user), and one range
#: everywhere (scenario files, --seed of run, sample and generate) keeps a seed portable.
SEED_MAX = 2**31 - 1
#: The highest target rate a run takes (arrivals per second, over all its processes): far past what
#: a fleet of load generators sends, and short of rates whose interval the scheduler's clock (epoch
#: seconds in a float) cannot step by.
MAX_RATE = 1_000_000.0


def check_seed(seed: int) -> None:
    """Raise ``ValueError`` ("must be from 0 to 2147483647, got -1") for a seed out of range."""
    if isinstance(seed, bool) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"must be from 0 to {SEED_MAX}, got {seed}")


#: An http(s) URL with its host: a target's base URL, a webhook URL.
HTTP_URL_RE = re.compile(r"https?://[^\s/]+(/\S*)?\Z")


def check_base_url(url: str) -> None:
    """Raise ``ValueError`` for a target that is not an http(s) base URL. ``127.0.0.1:8080`` is refused,
    not guessed: http or https cannot be told from it, and urllib reads ``localhost:8080`` as a scheme."""
    if not HTTP_URL_RE.match(url):
        example = f"http://{url.strip()}" if "://" not in url and url.strip() else "http://127.0.0.1:8089"
        raise ValueError(f"expected a base URL with its scheme, such as {example}")


def _meta(check: str | None = None, *, duration: bool = False, doc: str = "") -> dict[str, Any]:
    return {"check": check, "duration": duration, "doc": doc}


@functools.cache
def normal_table() -> tuple[float, ...]:
    """Standard normal quantiles at 65,536 evenly spaced probabilities: a normal draw is one table
    lookup by 16 random bits (``random.gauss`` is Python code and costs ten times more). Tails
    are cut at 4.3 sigma, which no think time misses."""
    inv = statistics.NormalDist().inv_cdf
    return tuple(inv((k + 0.5) / 65536) for k in range(65536))


DistKind = Literal["constant", "exponential", "lognormal", "uniform", "geometric"]
#: The largest normal quantile of ``normal_table`` (4.3): a lognormal draws at most median * e^(sigma * this).
_Z_TOP = statistics.NormalDist().inv_cdf((65535 + 0.5) / 65536)
#: An exponential or geometric draw at most mean * this: -log of the smallest random() above 0, 2**-53.
_EXP_TOP = 53 * math.log(2)
#: The longest a duration distribution (a think time, a session gap, an offline spell) may draw: 100
#: years, a dataset's longest span. Past it a device's clock soon leaves the dates a timestamp holds.
MAX_DURATION_S = 36_525 * 86_400.0
#: The largest count a count distribution (``journey.sessions``) may draw: each is a session played.
MAX_COUNT = 100_000.0


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

    def sample(self, rnd: random.Random) -> float:
        """One draw from a ``random.Random`` (hot paths keep ``sampler()`` instead)."""
        return self.sampler()(rnd)

    def sampler(self) -> Callable[[random.Random], float]:
        """A closure drawing from this distribution: the one definition of every kind's draw. The
        journey engine keeps one per distribution (a method call with an if-chain costs twice as much)."""
        lo, hi, v, sigma = self.low, self.high, self.value, self.sigma
        unclamped = lo == 0.0 and hi == math.inf
        if self.kind == "constant":
            c = min(max(v, lo), hi)
            return lambda rnd: c
        if self.kind == "lognormal":
            exp, z = math.exp, normal_table()
            if unclamped:
                return lambda rnd: v * exp(sigma * z[rnd.getrandbits(16)])
            return lambda rnd: min(max(v * exp(sigma * z[rnd.getrandbits(16)]), lo), hi)
        if self.kind == "exponential":
            if v <= 0:
                c = min(max(0.0, lo), hi)
                return lambda rnd: c
            lam = 1.0 / v
            if unclamped:
                return lambda rnd: rnd.expovariate(lam)
            return lambda rnd: min(max(rnd.expovariate(lam), lo), hi)
        if self.kind == "uniform":
            return lambda rnd: lo + (hi - lo) * rnd.random()
        # geometric on 1, 2, ...: the number of trials to the first success, mean = value
        p = 1.0 / v
        if p >= 1.0:
            c = min(max(1.0, lo), hi)
            return lambda rnd: c
        log, log_q = math.log, math.log(1.0 - p)
        return lambda rnd: min(max(float(1 + int(log(1.0 - rnd.random()) / log_q)), lo), hi)

    @property
    def largest(self) -> float:
        """The largest draw ``sampler()`` makes (inf when past a float): the clamp ``high``, or the tail
        of the kind (a lognormal's table ends at 4.3 sigma, an exponential's at -log(2**-53) means)."""
        if self.kind == "constant":
            return min(max(self.value, self.low), self.high)
        if self.kind == "uniform":
            return self.high
        if self.kind == "lognormal":
            if self.value <= 0:
                return min(max(0.0, self.low), self.high)
            log_top = math.log(self.value) + self.sigma * _Z_TOP
            top = math.exp(log_top) if log_top < LOG_FLOAT_MAX else math.inf
        else:
            top = self.value * _EXP_TOP
        return min(top, self.high)

    @property
    def mean(self) -> float:
        if self.kind == "lognormal":
            return self.value * math.exp(self.sigma**2 / 2)
        if self.kind == "uniform":
            return (self.low + self.high) / 2
        return self.value


@dataclass(frozen=True, slots=True)
class JourneyState:
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
    campaigns: tuple[str, ...] = ("retargeting", "brand", "new_arrivals", "prospecting")


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

    #: Sales tax added on top, for a buyer whose country has no row in catalog/tax_rates.csv.
    tax_rate: float = field(default=0.08, metadata=_meta("probability"))
    shipping_usd: float = field(default=4.99, metadata=_meta("nonnegative"))
    free_shipping_over_usd: float = field(default=50.0, metadata=_meta("nonnegative"))
    #: Share of orders with a coupon; coupon code -> discount as a share of the subtotal.
    coupon_share: float = field(default=0.2, metadata=_meta("probability"))
    coupons: Mapping[str, float] = field(default_factory=lambda: {"SAVE10": 0.10, "WELCOME15": 0.15, "VIP20": 0.20})
    affiliation: str = "In-App Store"
    #: A cart line's quantity is 1 to this (at most ``MAX_QUANTITY``, the API's limit).
    max_quantity: int = field(default=3, metadata=_meta("positive"))
    #: Local currency units per USD; a currency not listed is priced 1:1.
    usd_rates: Mapping[str, float] = field(default_factory=lambda: dict(USD_RATES), metadata=_meta("rate"))


@dataclass(frozen=True, slots=True)
class JourneyConfig:
    """The session state machine and the life of a device around it (``[journey]``).

    The rules read the graph (``states``, ``transitions``, ``start``); every other key is read
    generically by its field, like any table."""

    #: The state sessions start in (the rules default it to the first state).
    start: str = ""
    states: Mapping[str, JourneyState] = field(default_factory=dict)
    transitions: tuple[Transition, ...] = ()
    #: Sessions in a device's life (a count: at least 1, no unit).
    sessions: Distribution = field(default=Distribution("geometric", 3.0), metadata=_meta("count"))
    #: Time between sessions, from the last request of one to the first of the next; a gap
    #: shorter than ``session_timeout`` is stretched to it.
    session_gap: Distribution = Distribution("lognormal", 6 * 3600.0, 1.2)
    #: Inactivity that ends a session: a longer think time starts a new one.
    session_timeout: float = field(default=1800.0, metadata=_meta("positive", duration=True))
    #: Think time of a transition that does not give one.
    think: Distribution = Distribution("lognormal", 3.0, 0.8)
    #: A session ends after this many steps whatever its transitions say.
    max_steps: int = field(default=200, metadata=_meta("positive"))
    identify: IdentifyConfig = IdentifyConfig()
    reinstall: ReinstallConfig = ReinstallConfig()
    attribution: AttributionConfig = AttributionConfig()
    faulty: FaultyConfig = FaultyConfig()
    commerce: CommerceConfig = CommerceConfig()
    event_names: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_EVENT_NAMES))

    def outgoing(self, state: str) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if t.source == state)

    def step(self, state: JourneyState) -> str:
        """The request name (a report's step) ``state`` sends: ``identify``, ``event:<name>``, or "" (none)."""
        if state.action == "identify":
            return "identify"
        if state.action == "none":
            return ""
        return f"event:{state.event or self.event_names.get(state.action, '')}"

    def steps(self) -> tuple[str, ...]:
        """Every step a session can send, in the order the states are written, externalIds first."""
        named = (self.step(st) for st in self.states.values())
        return tuple(dict.fromkeys(("externalIds", *(s for s in named if s))))

    def reachable(self) -> tuple[str, ...]:
        """The states a session can enter, in the order they are written: the start, and every state a
        transition with p above 0 leads to from one of those (the others never play)."""
        seen, todo = {self.start}, [self.start]
        while todo:
            here = todo.pop()
            for tr in self.transitions:
                if tr.source == here and tr.p > 0 and tr.target not in seen:
                    seen.add(tr.target)
                    todo.append(tr.target)
        return tuple(name for name in self.states if name in seen)


def step_endpoint(step: str) -> str:
    """The endpoint a step's requests go to: ``externalIds`` and ``identify`` their own, ``event:<name>`` events."""
    return step if step in contract.ENDPOINT_NAMES else "events"


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

    @property
    def planned_s(self) -> float:
        """The run's length as the scenario plans it: its stages' durations, else ``run_time``."""
        return sum(s.duration for s in self.stages) if self.stages else self.run_time


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
    #: What the mock stored must equal what got a 200. Unset: judged whenever reconciliation ran
    #: (the target is the mock); true: judged always (a target that cannot be read fails it);
    #: false: reported, not judged.
    reconciliation: bool | None = None
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

#: The natural log of the largest float: a day's install weight past it is inf (or OverflowError).
LOG_FLOAT_MAX = math.log(sys.float_info.max)
#: What a day's install weight may be multiplied by beyond its growth: a weekday's weight (at most
#: 7, the weekly curve's mean is 1), and the running sum of up to 2**22 days (year 1 to 9999 is fewer).
INSTALL_HEADROOM = 7.0 * 2.0**22
#: The largest campaign installs factor whose day's weight stays a float.
MAX_CAMPAIGN_INSTALLS = sys.float_info.max / INSTALL_HEADROOM
#: The most simulated days a dataset spans, 100 years: the calendar holds each time zone's UTC
#: offset for every hour of them, about 1 KB a zone a day (22 zones: ~0.9 GB a process at this).
MAX_DAYS = 36_525
#: time.weekly's order (not the locale's names: messages are in English).
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: The largest campaign sessions factor: returning sessions are drawn at the busiest hour's rate and
#: thinned, so a session costs draws in proportion to it (1,000 about doubles a dataset's time; 1e308
#: never ends: each draw is too small a step to move the clock).
MAX_CAMPAIGN_SESSIONS = 1_000.0


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
    conversion: float = field(default=1.15, metadata=_meta("positive"))


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

    @staticmethod
    def days_before_year_10000(first: datetime.date) -> int:
        """The most days a dataset from ``first`` spans: its last local day, and the UTC day after
        it, must be dates (year 9999 at most)."""
        return max(0, (datetime.date.max - first).days - 1)

    def idle_weekdays(self, first: datetime.date, days: int) -> list[str]:
        """The weekdays a period of ``days`` from ``first`` spans, if all of them have a weekly weight
        of 0 (no device could install or come back in it); empty if any has a weight."""
        spanned = [(first + datetime.timedelta(days=d)).weekday() for d in range(min(days, 7))]
        if len(self.weekly) != 7 or any(self.weekly[w] > 0 for w in spanned):
            return []
        return [WEEKDAYS[w] for w in spanned]

    def max_days(self) -> int | None:
        """The most days over which a day's install weight, (1 + install_growth) ** day times the
        weekday's and a campaign's, stays a float (and so does their sum); None: no limit."""
        if self.install_growth <= 0:
            return None  # weights only shrink
        installs = max([1.0, *(c.installs for c in self.campaigns)])
        room = LOG_FLOAT_MAX - math.log(INSTALL_HEADROOM * installs)
        return max(1, math.floor(room / math.log1p(self.install_growth)) + 1)


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
    #: What the file has that is legal but likely not meant (a state nothing leads to), each named
    #: by file and field: ``loadsim validate`` and every command that loads the file say them.
    warnings: tuple[ScenarioProblem, ...] = ()


#: Keys of ``[target.mock]``: the embedded mock's flags (``error_rate`` is ``--error-rate``), and
#: an outage the runner plays through the mock's admin API (seconds after the load starts).
MOCK_FLAGS = ("latency", "error_rate", "retry_after", "hold_rate", "reset_rate", "drop_rate", "freeze_at", "freeze_for")
MOCK_OUTAGE = ("outage_at", "outage_for", "outage_status")
#: What an outage does: answer every request with one of these statuses, or ``"refuse"``
#: connections (the collector is down: connects get ECONNREFUSED).
OUTAGE_STATUSES = (429, 500, 502, 503, "refuse")
