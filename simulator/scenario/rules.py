"""The rules across fields: the journey graph, and each table's checks once its fields are read."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simulator import catalog
from simulator.contract import FORMATS
from simulator.duration import parse_duration
from simulator.faultspec import MAX_REFUSE_S, FaultConfig, FaultError
from simulator.population.config import AppConfig, PopulationConfig, config_problems
from simulator.scenario.model import (
    ACTIONS,
    DEFAULT_EVENT_NAMES,
    FAULT_KINDS,
    HTTP_URL_RE,
    MAX_CAMPAIGN_INSTALLS,
    MAX_CAMPAIGN_SESSIONS,
    MAX_DAYS,
    MAX_DEVICES,
    MAX_QUANTITY,
    MAX_RATE,
    MOCK_FLAGS,
    MOCK_OUTAGE,
    OUTAGE_STATUSES,
    RETRYABLE_ERRORS,
    SEED_MAX,
    SLO_ENDPOINTS,
    ClientConfig,
    Distribution,
    ErrorRateSLO,
    JourneyConfig,
    JourneyState,
    LatencySLO,
    LoadConfig,
    Scenario,
    SLOConfig,
    TargetConfig,
    TimeConfig,
    Transition,
    check_base_url,
    step_endpoint,
)
from simulator.scenario.reader import _SKIP, _convert, _dataclass, _distribution, _Reader, _show, hint

_TOP_KEYS = ("name", "description", "seed", "app", "population", "journey", "load", "slo", "target", "time", "client")
_STATE_KEYS = ("action", "event", "properties", "categories", "next")
_TRANSITION_KEYS = ("from", "to", "p", "think")
_JOURNEY_EXTRA = ("states", "transitions")
_DEFAULT_JOURNEY = JourneyConfig()


def _journey(r: _Reader, raw: Any) -> JourneyConfig | None:
    """``[journey]``: every key but the graph read generically, then the states, the transitions
    (array or compact ``next`` tables), their sums and the start; then the rules across tables."""
    table = r.table(raw, "journey")
    if table is None:
        return None
    simple = {k: v for k, v in table.items() if k not in _JOURNEY_EXTRA}
    # Everything but the graph goes through the generic reader; start is checked below.
    base = _dataclass(r, JourneyConfig, simple, "journey")
    raw_states = table.get("states")
    known = raw_states if isinstance(raw_states, dict) else None  # the state names, when readable
    states = _states(r, raw_states)
    default_think = base.think if base not in (_SKIP, None) else _DEFAULT_JOURNEY.think
    transitions: list[Transition] = []
    for p, spec, compact in _transition_specs(r, table.get("transitions", []), known):
        tr = _transition(r, p, spec, compact, known, default_think)
        if tr is not None:
            transitions.append(tr)
    _check_sums(r, transitions)
    start = table.get("start") or (next(iter(known)) if known else "")
    if known is not None and isinstance(start, str) and start and start not in known:
        states_are = f"states are {', '.join(known)}"
        r.err("journey.start", f"unknown state {_show(start)}; {hint(start, known, states_are)}")
    if base in (_SKIP, None):
        return None
    _check_journey_tables(r, base)
    names = dict(DEFAULT_EVENT_NAMES)
    names.update(base.event_names)
    journey: JourneyConfig = dataclasses.replace(
        base, start=start, states=states, transitions=tuple(transitions), event_names=names
    )
    if isinstance(start, str) and start in states:
        _warn_unreachable(r, journey)
    return journey


def _states(r: _Reader, raw_states: Any) -> dict[str, JourneyState]:
    """``[journey.states]``: each state's action, event name, properties and categories."""
    states: dict[str, JourneyState] = {}
    if raw_states is None:
        r.err("journey.states", 'required: at least one state, e.g. [journey.states] home = {action = "event"}')
        return states
    st = r.table(raw_states, "journey.states")
    if st is None:
        return states
    if not st:
        r.err("journey.states", "expected at least one state")
    for name, spec in st.items():
        state = _state(r, name, spec)
        if state is not None:
            states[name] = state
    return states


def _state(r: _Reader, name: str, spec: Any) -> JourneyState | None:
    p = f"journey.states.{name}"
    spec_t = r.table(spec, p)
    if spec_t is None:
        return None
    bad = [k for k in spec_t if k not in _STATE_KEYS]
    for k in bad:
        r.unknown(p, k, _STATE_KEYS)
    action = spec_t.get("action", "event")
    if action not in ACTIONS:
        r.err(f"{p}.action", f"unknown action {_show(action)}; {hint(action, ACTIONS)}")
        return None
    event = spec_t.get("event", "")
    if not isinstance(event, str):
        r.err(f"{p}.event", f"expected an event name, got {_show(event)}")
        return None
    if "event" in spec_t and not event.strip():
        r.err(f"{p}.event", "expected a non-empty event name")
    props = spec_t.get("properties", {})
    if not isinstance(props, dict):
        r.err(f"{p}.properties", f"expected a table, got {_show(props)}")
        return None
    cats = spec_t.get("categories", [])
    if not (isinstance(cats, list) and all(isinstance(c, str) for c in cats)):
        r.err(f"{p}.categories", f"expected an array of category names, got {_show(cats)}")
        return None
    known = catalog.product_categories()
    for i, c in enumerate(cats):
        if c not in known:
            close = hint(c, known, f"the catalogue has {', '.join(known)}")
            r.err(f"{p}.categories[{i}]", f"unknown category {_show(c)}; {close}")
    return None if bad else JourneyState(name, action, event, props, tuple(cats))


def _transition_specs(r: _Reader, raw_tr: Any, known: dict[str, Any] | None) -> list[tuple[str, Any, int]]:
    """Every transition as (path, table, compact): ``[[journey.transitions]]`` entries (compact 0),
    then the compact form ``[journey.states.home] next = {product = 0.45, login = {p = 0.08}}``,
    whose entries name their target by key (1) and maybe their probability by value (2)."""
    if not isinstance(raw_tr, list):
        r.err("journey.transitions", f"expected an array of tables, got {_show(raw_tr)}")
        raw_tr = []
    specs: list[tuple[str, Any, int]] = [(f"journey.transitions[{i}]", t, 0) for i, t in enumerate(raw_tr)]
    for name, spec in (known or {}).items():
        nxt = spec.get("next") if isinstance(spec, dict) else None
        if nxt is None:
            continue
        if not isinstance(nxt, dict):
            r.err(f"journey.states.{name}.next", f"expected a table of state = probability, got {_show(nxt)}")
            continue
        for target, v in nxt.items():
            t_spec = {"from": name, "to": target, **(v if isinstance(v, dict) else {"p": v})}
            specs.append((f"journey.states.{name}.next.{target}", t_spec, 1 if isinstance(v, dict) else 2))
    return specs


def _transition(
    r: _Reader, p: str, spec: Any, compact: int, known: dict[str, Any] | None, default_think: Distribution
) -> Transition | None:
    t = r.table(spec, p)
    if t is None:
        return None
    ok = True
    for k in t:
        if k not in _TRANSITION_KEYS:
            r.unknown(p, k, _TRANSITION_KEYS)
            ok = False
    ends: list[Any] = []  # two state names when ok
    for k in ("from", "to"):
        v = t.get(k)
        if v is None:
            r.err(f"{p}.{k}", "required key is missing")
            ok = False
        elif not isinstance(v, str):
            r.err(f"{p}.{k}", f"expected a state name, got {_show(v)}")
            ok = False
        elif known is not None and v not in known:
            states_are = f"states are {', '.join(known)}"
            r.err(p if compact else f"{p}.{k}", f"unknown state {_show(v)}; {hint(v, known, states_are)}")
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
        return Transition(ends[0], ends[1], prob, think)
    return None


def _warn_unreachable(r: _Reader, journey: JourneyConfig) -> None:
    """A state no transition (with p above 0) leads to from the start never plays: a warning, as a
    scenario that extends another cannot delete its states, only set their transitions' p to 0."""
    reachable = journey.reachable()
    for name in journey.states:
        if name not in reachable:
            r.warn(f"journey.states.{name}", f"unreachable: {_unreached(journey, 'it')}, so it never plays")


def _unreached(journey: JourneyConfig, them: str) -> str:
    return f"no transition with p above 0 leads to {them} from the start state {_show(journey.start)}"


def _check_sums(r: _Reader, transitions: list[Transition]) -> None:
    sums: dict[str, float] = {}
    for tr in transitions:
        sums[tr.source] = sums.get(tr.source, 0.0) + tr.p
    for source, total in sums.items():
        if total > 1.0 + 1e-9:
            r.err(
                "journey.transitions",
                f"transitions from {_show(source)} sum to {total:g}; at most 1 (what is left over ends the session)",
            )


def _check_journey_tables(r: _Reader, base: JourneyConfig) -> None:
    """The rules across ``[journey]``'s tables: event names, faults, attribution, coupons."""
    for k, v in base.event_names.items():
        if k not in DEFAULT_EVENT_NAMES:
            r.unknown("journey.event_names", k, DEFAULT_EVENT_NAMES)
        elif not v.strip():
            r.err(f"journey.event_names.{k}", "expected a non-empty event name")
    for i, kind in enumerate(base.faulty.kinds):
        if kind not in FAULT_KINDS:
            r.err(f"journey.faulty.kinds[{i}]", f"unknown fault {_show(kind)}; {hint(kind, FAULT_KINDS)}")
    if base.attribution.share > 0 and not any(w > 0 for w in base.attribution.sources.values()):
        r.err("journey.attribution.sources", "expected at least one source with a weight above 0")
    if not base.attribution.campaigns:
        r.err("journey.attribution.campaigns", "expected at least one campaign name")
    if not base.commerce.coupons and base.commerce.coupon_share > 0:
        r.err("journey.commerce.coupons", "expected at least one coupon when coupon_share is above 0")
    if base.commerce.max_quantity > MAX_QUANTITY:  # every cart line past it would be a 400
        r.err(
            "journey.commerce.max_quantity",
            f"expected at most {MAX_QUANTITY:,} (the API's limit on a product's product_quantity), "
            f"got {_show(base.commerce.max_quantity)}",
        )
    for code, share in base.commerce.coupons.items():
        if not 0 <= share < 1:
            r.err(f"journey.commerce.coupons.{code}", f"expected a discount share in [0, 1), got {share:g}")


def _check_load(r: _Reader, load: LoadConfig) -> None:
    if load.model == "open" and load.rate is None and not any(s.rate is not None for s in load.stages):
        r.err("load.rate", 'required when model = "open" (arrivals per second), or give each stage a rate')
    if load.rate is not None and load.rate > MAX_RATE:
        r.err("load.rate", f"expected at most {MAX_RATE:,.0f} arrivals per second, got {load.rate:g}")
    for i, s in enumerate(load.stages):
        if s.users is None and s.rate is None:
            r.err(f"load.stages[{i}]", "expected users (closed model) or rate (open model)")
        if s.rate is not None and s.rate > MAX_RATE:
            r.err(f"load.stages[{i}].rate", f"expected at most {MAX_RATE:,.0f} arrivals per second, got {s.rate:g}")
    for i, x in enumerate(load.curve):
        if x < 0:
            r.err(f"load.curve[{i}]", f"expected a multiplier of at least 0, got {x:g}")


def _check_slo(r: _Reader, slo: SLOConfig) -> None:
    tables: list[tuple[str, tuple[LatencySLO | ErrorRateSLO, ...]]] = [
        ("latency", slo.latency),
        ("error_rate", slo.error_rate),
    ]
    for kind, entries in tables:
        for i, e in enumerate(entries):
            if e.endpoint not in SLO_ENDPOINTS:
                r.err(
                    f"slo.{kind}[{i}].endpoint",
                    f"unknown endpoint {_show(e.endpoint)}; {hint(e.endpoint, SLO_ENDPOINTS)}",
                )


def _check_slo_steps(r: _Reader, slo: SLOConfig, journey: JourneyConfig) -> None:
    """An SLO on a step the journey never sends, or that only states no session enters send (or on an
    endpoint only those send), has no request to judge: every run would fail it."""
    steps = journey.steps()
    reachable = journey.reachable() if journey.start in journey.states else tuple(journey.states)
    tables: list[tuple[str, tuple[LatencySLO | ErrorRateSLO, ...]]] = [
        ("latency", slo.latency),
        ("error_rate", slo.error_rate),
    ]
    for kind, entries in tables:
        for i, e in enumerate(entries):
            if e.step is not None and e.step not in steps:
                sends = f"the journey sends {', '.join(steps)}"
                r.err(f"slo.{kind}[{i}].step", f"unknown step {_show(e.step)}; {hint(e.step, steps, sends)}")
                continue
            key, judged = ("step", e.step) if e.step is not None else ("endpoint", e.endpoint)
            if judged in ("total", "externalIds"):  # every session starts with an externalIds request
                continue
            sent = {name: journey.step(state) for name, state in journey.states.items() if journey.step(state)}
            senders = [n for n, step in sent.items() if (step if e.step is not None else step_endpoint(step)) == judged]
            if any(name in reachable for name in senders):
                continue
            if senders:
                them = "them" if len(senders) > 1 else "it"
                plural = "s" if len(senders) > 1 else ""
                why = f" is sent only by unreachable state{plural} {', '.join(senders)} ({_unreached(journey, them)})"
            else:
                why = ": no state of the journey sends it"
            r.err(
                f"slo.{kind}[{i}].{key}",
                f"{_show(judged)}{why}: the SLO would have no request to judge, and fail every run",
            )


def _check_target(r: _Reader, target: TargetConfig) -> None:
    if target.webhook_url and not HTTP_URL_RE.match(target.webhook_url):
        r.err("target.webhook_url", "expected an http(s) URL (the secret part is never printed)")
    if target.host:
        try:
            check_base_url(target.host)
        except ValueError as e:
            r.err("target.host", f"{e}, got {_show(target.host)}")
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


def _flag_value(value: Any) -> bool:
    """A value the mock's command-line flag takes (text, a number, a list of them), as TOML gives it."""
    return not isinstance(value, bool) and isinstance(value, str | int | float | list)


def _check_mock(r: _Reader, options: Mapping[str, Any]) -> None:
    allowed = (*MOCK_FLAGS, *MOCK_OUTAGE)
    for key, value in options.items():
        path = f"target.mock.{key}"
        if key not in allowed:
            r.unknown("target.mock", key, allowed)
        elif key in ("outage_at", "outage_for"):
            try:
                seconds = parse_duration(value)
            except ValueError as e:
                r.err(path, f"{e}, got {_show(value)}")
            else:
                if key == "outage_for" and seconds > MAX_REFUSE_S:  # the mock would refuse it mid-run
                    r.err(path, f"an outage lasts at most {MAX_REFUSE_S:g} s (the mock's limit), got {_show(value)}")
        elif key == "outage_status" and (isinstance(value, bool) or value not in OUTAGE_STATUSES):
            r.err(path, f'expected 429, 500, 502, 503 or "refuse" (connections refused), got {_show(value)}')
        elif key in MOCK_FLAGS and not _flag_value(value):
            r.err(path, f"expected a value as the mock's --{key.replace('_', '-')} flag takes it, got {_show(value)}")
    for what, first, second in (("an outage", "outage_at", "outage_for"), ("a freeze", "freeze_at", "freeze_for")):
        if (first in options) != (second in options):
            r.err("target.mock", f"{what} needs both {first} and {second}")
    flags: dict[str, Any] = {
        k: [str(x) for x in v] if isinstance(v, list) else str(v)
        for k, v in options.items()
        if k in MOCK_FLAGS and _flag_value(v)  # a value of another type is named above
    }
    # The mock's own reading of each flag (a freeze's two with a stand-in for the other, which the
    # pair's own check above asks for), so every bad value is named by its key.
    for key, value in flags.items():
        one = (
            {"freeze_at": "0s", "freeze_for": "0s", key: value} if key in ("freeze_at", "freeze_for") else {key: value}
        )
        try:
            FaultConfig.from_flags(**one)
        except FaultError as e:
            r.err(f"target.mock.{key}", str(e))


def _check_outage_in_run(r: _Reader, load: LoadConfig, options: Mapping[str, Any]) -> None:
    """An outage or a freeze the run ends before never happens, while the report reads as a run that
    went through it. --run-time scales the windows with the run, so the scenario's own run decides."""
    end = load.planned_s
    for key, length in (("outage_at", "outage_for"), ("freeze_at", "freeze_for")):
        try:
            at, lasts = parse_duration(options[key]), parse_duration(options[length])
        except (KeyError, ValueError):  # none, half of one, or a bad value: reported by _check_mock
            continue
        if at >= end and lasts > 0:  # one of no length plays nowhere, in the run or after it
            where = f"{at:g}s is at or after the end of the {end:g}s run ([load])"
            r.err(f"target.mock.{key}", f"{where}: move it into the run")


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
        first = t.start_date()
    except ValueError:
        r.err("time.start", f'expected an ISO date such as "2026-01-05", got {_show(t.start)}')
    else:
        most = t.days_before_year_10000(first)
        if t.days > most:
            r.err(
                "time.days",
                f"{t.days:,} days from time.start {first} run past the year 9999: "
                f"at most {most:,} days from that start",
            )
        # A week of zeros is its own problem (below), which no span of days can help.
        idle = t.idle_weekdays(first, t.days) if any(x > 0 for x in t.weekly) else []
        if idle:
            spanned = f"{t.days} days from time.start {first} ({', '.join(idle)}) all have"
            if t.days == 1:
                spanned = f"1 day from time.start {first} ({idle[0]}) has"
            r.err(
                "time.weekly",
                f"the {spanned} a weight of 0: no device could install or come back; give one of them a "
                "weight above 0, or span more days",
            )
    for key, curve, size in (("daily", t.daily, 24), ("weekly", t.weekly, 7)):
        if len(curve) != size:
            what = "one per local hour, 0 to 23" if size == 24 else "one per weekday, Monday first"
            r.err(f"time.{key}", f"expected {size} weights ({what}), got {len(curve)}")
        for i, x in enumerate(curve):
            if x < 0:
                r.err(f"time.{key}[{i}]", f"expected a weight of at least 0, got {_show(x)}")
        if curve and not any(x > 0 for x in curve):
            r.err(f"time.{key}", "expected at least one weight above 0")
    if t.days > MAX_DAYS:
        r.err("time.days", f"expected at most {MAX_DAYS:,} days (100 years) a dataset spans, got {t.days:,}")
    if not t.install_growth > -1:
        r.err(
            "time.install_growth",
            f"expected a daily growth above -1 (0.03 = +3 % a day), got {_show(t.install_growth)}",
        )
    huge = False
    for i, c in enumerate(t.campaigns):
        if c.sessions > MAX_CAMPAIGN_SESSIONS:
            r.err(
                f"time.campaigns[{i}].sessions",
                f"expected a factor of at most {MAX_CAMPAIGN_SESSIONS:,.0f} (each returning session costs about "
                f"that many draws), got {_show(c.sessions)}",
            )
        if c.installs > MAX_CAMPAIGN_INSTALLS:
            huge = True
            r.err(
                f"time.campaigns[{i}].installs",
                f"expected a factor of at most {MAX_CAMPAIGN_INSTALLS:.2g} (a day's installs times it must stay "
                f"a float), got {_show(c.installs)}",
            )
    limit = None if huge else t.max_days()
    if limit is not None and t.days > limit:
        r.err(
            "time.install_growth",
            f"{_show(t.install_growth)} a day over time.days {t.days:,} grows a day's installs past what a float "
            f"holds: at most {limit:,} days at that growth",
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
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        r.err("seed", f"expected an integer from 0 to {SEED_MAX}, got {_show(seed)}")
    app = _dataclass(r, AppConfig, data.get("app", {}), "app")
    # Every request's id: one the API would refuse makes every request a 400 (and a dataset of them).
    if app is not _SKIP and isinstance(app.app_id, str) and not FORMATS["app_id"].compiled().match(app.app_id):
        r.err("app.app_id", f"expected {FORMATS['app_id'].expected}, got {_show(app.app_id)}")
    population = _dataclass(r, PopulationConfig, data.get("population", {}), "population")
    if population is not _SKIP and population.devices > MAX_DEVICES:
        r.err(
            "population.devices",
            f"expected at most {MAX_DEVICES:,} devices (each load-test process builds them all, about 200 bytes "
            f"a device), got {_show(population.devices)}",
        )
    if app is not _SKIP and population is not _SKIP:
        countries = tuple(c.code for c in catalog.load().countries)
        for field_path, message in config_problems(population, app, countries):
            r.err(field_path, message)
    journey = _journey(r, data["journey"]) if "journey" in data else None
    if "journey" not in data:
        r.err("journey", "required: the states and transitions of a session (see simulator/scenarios/README.md)")
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
    if journey is not None and tables["slo"] is not _SKIP:
        _check_slo_steps(r, tables["slo"], journey)
    if tables["load"] is not _SKIP and tables["target"] is not _SKIP:
        _check_outage_in_run(r, tables["load"], tables["target"].mock)
    if r.problems:
        return None
    assert journey is not None  # a missing or unreadable journey is a problem reported above
    return Scenario(
        name=name,
        description=description,
        seed=seed,
        app=app,
        population=population,
        journey=journey,
        path=path,
        warnings=tuple(r.warnings),
        **tables,
    )
