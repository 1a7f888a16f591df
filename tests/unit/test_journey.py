"""The journey engine: funnel statistics, lifetime invariants, contract validity, determinism."""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from simulator import contract, payloads
from simulator.journey import DEFAULT_START, JourneyEngine, Request, load_products
from simulator.population import Population
from simulator.scenario import Scenario, load_scenario, parse_scenario


def make_population(s: Scenario, devices: int | None = None) -> Population:
    config = dataclasses.replace(s.population, devices=devices or s.population.devices)
    return Population.build(config=config, app=s.app, seed=s.seed)


def with_journey(s: Scenario, **changes: Any) -> Scenario:
    j = s.journey
    for name, value in changes.items():
        if isinstance(value, dict):
            value = dataclasses.replace(getattr(j, name), **value)
        j = dataclasses.replace(j, **{name: value})
    return dataclasses.replace(s, journey=j)


def lives(engine: JourneyEngine, n: int) -> Iterator[tuple[int, list[Request]]]:
    for i in range(n):
        yield i, list(engine.device_life(i))


def wire(body: dict[str, Any]) -> Any:
    return orjson.loads(payloads.dumps(body))


# --- funnel statistics ------------------------------------------------------------------------

FUNNEL = """
seed = 99
[journey]
start = "a"
think = "1s"
sessions = "constant(1)"
[journey.states]
a = { event = "A", next = { b = 0.6, c = 0.3 } }
b = { event = "B", next = { c = 0.5, a = 0.2 } }
c = { event = "C", next = { d = 0.25 } }
d = { event = "D", next = { b = 0.1 } }
"""


def test_each_transition_is_taken_with_its_configured_probability_over_10000_sessions() -> None:
    s = parse_scenario(FUNNEL)
    engine = JourneyEngine(scenario=s, population=make_population(s, 10_000))
    taken: Counter[tuple[str, str]] = Counter()
    visits: Counter[str] = Counter()
    sessions = 0
    for i in range(10_000):
        for batch in engine.sessions(i):
            sessions += 1
            names = [r.step.removeprefix("event:").lower() for r in batch[1:]]
            for a, b in zip(names, [*names[1:], "end"], strict=True):
                visits[a] += 1
                taken[a, b] += 1
    assert sessions == 10_000
    for t in s.journey.transitions:
        n = visits[t.source]
        observed = taken[t.source, t.target] / n
        sigma = (t.p * (1 - t.p) / n) ** 0.5
        assert abs(observed - t.p) < 4.5 * sigma + 1e-3, (t, observed, n)
    for state in s.journey.states:  # what is left over ends the session
        left = 1 - sum(t.p for t in s.journey.outgoing(state))
        assert taken[state, "end"] / visits[state] == pytest.approx(left, abs=0.02)


def test_sessions_per_device_follow_their_distribution() -> None:
    s = load_scenario("ecommerce")
    engine = JourneyEngine(scenario=s, population=make_population(s, 3000))
    counts = [sum(1 for _ in engine.sessions(i)) for i in range(3000)]
    assert min(counts) >= 1
    d = s.journey.sessions
    # ecommerce's lognormal(3, 1.7) has a heavy tail: a 3,000-device mean has a standard error of
    # about 7.5%, so the mean is held to four standard errors and the (robust) median to its value.
    se = d.mean * math.sqrt(math.expm1(d.sigma**2) / len(counts))
    assert abs(sum(counts) / len(counts) - d.mean) < 4 * se
    assert statistics.median(counts) == pytest.approx(d.value, abs=1)


def test_identify_sends_email_and_phone_with_their_probabilities() -> None:
    s = load_scenario("identity")
    engine = JourneyEngine(scenario=s, population=make_population(s, 3000))
    by = [r.body["identify_by"] for _, life in lives(engine, 3000) for r in life if r.endpoint == "identify"]
    assert len(by) > 1000
    email = sum("identify_by_email" in b for b in by) / len(by)
    phone = sum("identify_by_phone" in b for b in by) / len(by)
    # "at least one": a draw of neither sends the email, so email = pe + (1-pe)(1-pp)
    pe, pp = s.journey.identify.email, s.journey.identify.phone
    assert email == pytest.approx(pe + (1 - pe) * (1 - pp), abs=0.03)
    assert phone == pytest.approx(pp, abs=0.03)
    assert all(b for b in by)


# --- invariants over whole lives ----------------------------------------------------------------


@pytest.fixture(scope="module")
def busy() -> tuple[Scenario, JourneyEngine, list[tuple[int, list[Request]]]]:
    """The e-commerce journey with every feature on: reinstalls, attribution, faulty SDKs."""
    s = with_journey(
        load_scenario("ecommerce"),
        reinstall={"probability": 0.2, "relogin": 0.9},
        attribution={"share": 0.5},
        faulty={"share": 0.2, "rate": 0.5},
    )
    engine = JourneyEngine(scenario=s, population=make_population(s, 1500))
    return s, engine, list(lives(engine, 1500))


def test_every_session_starts_with_external_ids_and_a_fresh_session_id(busy: Any) -> None:
    _, engine, all_lives = busy
    sids: set[str] = set()
    for i, _ in all_lives[:400]:
        batches = list(engine.sessions(i))
        for batch in batches:
            assert batch[0].endpoint == "externalIds"
            assert all(r.endpoint != "externalIds" for r in batch[1:])
            sid = batch[0].body.get("sid")
            if sid is not None:  # a faulty SDK may have dropped it
                assert sid not in sids
                sids.add(sid)
                assert all(r.body.get("sid", sid) == sid for r in batch)


def test_the_user_id_lasts_an_install_and_changes_on_reinstall(busy: Any) -> None:
    s, engine, all_lives = busy
    reinstalled = 0
    for i, _ in all_lives:
        uids = []
        for batch in engine.sessions(i):
            u = {r.body["uid"] for r in batch if "uid" in r.body}
            assert len(u) <= 1  # one user id per session
            uids.extend(u)
        if not uids:
            continue  # a faulty SDK dropped the uid from every body of this short life
        distinct = list(dict.fromkeys(uids))
        assert uids[0].startswith(s.app.app_id)
        if len(distinct) > 1:
            reinstalled += 1
            assert len(distinct) == len(set(distinct))  # an old user id never comes back
    assert reinstalled > 50


def test_events_after_identify_carry_identify_by_and_before_it_do_not(busy: Any) -> None:
    _, _, all_lives = busy
    identified_events = 0
    for _, life in all_lives:
        if any(r.faulty for r in life):
            continue  # a malformed body may lack the uid or identify_by this test follows
        by_uid: dict[str, dict[str, str]] = {}
        for r in life:
            b = r.body
            if r.endpoint == "identify":
                by_uid[b["uid"]] = b["identify_by"]
            elif r.endpoint == "events":
                assert b["identify_by"] == by_uid.get(b["uid"], {})
                identified_events += bool(b["identify_by"])
    assert identified_events > 500


def test_a_reinstalled_known_person_logs_in_again_as_the_same_person(busy: Any) -> None:
    _, engine, all_lives = busy
    relogins = 0
    for i, life in all_lives:
        emails = {
            r.body["identify_by"].get("identify_by_email")
            for r in life
            if r.endpoint == "identify" and not r.faulty and "identify_by" in r.body
        } - {None}
        assert len(emails) <= 1  # whichever install, the same person
        people = {r.body["traits"]["email"] for r in life if r.endpoint == "identify" and "traits" in r.body}
        assert people <= {engine.population.person(i)["email"]}
        uids = {r.body["uid"] for r in life if r.endpoint == "identify" and "uid" in r.body}
        relogins += len(uids) > 1
    assert relogins > 10


def test_intended_times_never_go_backwards_and_added_at_follows_them(busy: Any) -> None:
    _, engine, all_lives = busy
    for _, life in all_lives:
        offsets = [r.offset for r in life]
        assert offsets[0] == 0 and offsets == sorted(offsets)
        for r in life:
            if "added_at" in r.body and r.fault != "local_added_at":
                assert r.body["added_at"] == payloads.iso_utc(engine.start_time + r.offset)


def test_purchases_add_up_in_the_devices_currency_with_unique_transaction_ids(busy: Any) -> None:
    _, engine, all_lives = busy
    txns: list[str] = []
    catalogue = {p.product_id for p in load_products()}
    for i, life in all_lives:
        currency = engine.population.device(i)["currency"]
        decimals = 0 if currency in ("JPY", "KRW", "IDR", "VND") else 2
        for r in life:
            if r.faulty or r.endpoint != "events" or "currency" not in r.body["properties"]:
                continue
            props, products = r.body["properties"], r.body.get("products", [])
            assert props["currency"] == currency
            assert {p["product_id"] for p in products} <= catalogue
            if r.body["event_name"] != "Purchase":
                continue
            subtotal = sum(p["product_price"] * p["product_quantity"] for p in products)
            # VAT/GST countries: the tax is inside the prices; sales-tax countries add it.
            inclusive = engine.population.device(i)["country"] not in ("US", "CA")
            tax = 0.0 if inclusive else props["tax"]
            expected = subtotal + props["shipping"] + tax - props["discount"]
            assert props["value"] == pytest.approx(expected, abs=10**-decimals)
            assert props["value"] == round(props["value"], decimals)
            assert ("coupon" in props) == (props["discount"] > 0)
            for key in ("transaction_id", "affiliation", "description"):
                assert props[key]
            txns.append(props["transaction_id"])
    assert len(txns) > 100 and len(set(txns)) == len(txns)


CLICK_FOR_SOURCE = {"google": {"gclid", "wbraid"}, "facebook": {"fbclid"}, "instagram": {"fbclid"}, "bing": {"msclkid"}}


def test_attributed_sessions_carry_utm_params_and_one_agreeing_click_id(busy: Any) -> None:
    s, engine, all_lives = busy
    opened = attributed = 0
    for i, _ in all_lives[:600]:
        for batch in engine.sessions(i):
            head = batch[0].body
            opened += 1
            utm = head.get("utm_params")
            clicks = {"gclid", "fbclid", "msclkid", "wbraid"} & head["additional_info"].keys()
            if utm is None:
                assert not clicks
                assert all("utm_params" not in r.body for r in batch)
                continue
            attributed += 1
            source = utm["utm_source"]
            assert source in s.journey.attribution.sources and utm["utm_campaign"]
            if source in CLICK_FOR_SOURCE:
                assert len(clicks) == 1 and clicks <= CLICK_FOR_SOURCE[source]
            if "wbraid" in clicks:
                assert head["additional_info"]["extInfoVersion"] == "i2"
            assert all(r.body.get("utm_params") == utm for r in batch if r.endpoint == "events")
    assert attributed / opened == pytest.approx(s.journey.attribution.share, abs=0.05)


def test_healthy_requests_pass_the_contract_and_faulty_ones_fail_it(busy: Any) -> None:
    s, engine, all_lives = busy
    faulty_devices: set[int] = set()
    kinds: Counter[str] = Counter()
    total = 0
    for i, life in all_lives:
        for r in life:
            total += 1
            problems = contract.validate(r.endpoint, wire(r.body))
            if r.faulty:
                faulty_devices.add(i)
                kinds[r.fault or ""] += 1
                assert problems, r
            else:
                assert problems == [], (r.step, problems)
            # The headers name the WebView the device runs at the time (an OS update changes it).
            if r.endpoint == "externalIds":
                agent = r.body["additional_info"]["user_agent"]
            assert r.headers == {**payloads.headers(engine.population.device(i)), "CL-User-Agent": agent}
    assert len(faulty_devices) / len(all_lives) == pytest.approx(s.journey.faulty.share, abs=0.05)
    assert set(kinds) == {
        "missing_sid",
        "missing_uid",
        "local_added_at",
        "missing_identify_by",
        "string_age",
        "string_price",
        "string_limit_ad_tracking",
    }


def test_step_names_are_endpoint_or_event_name(busy: Any) -> None:
    _, _, all_lives = busy
    for _, life in all_lives[:200]:
        for r in life:
            if r.endpoint == "events":
                assert r.step == f"event:{r.body['event_name']}"
            else:
                assert r.step == r.endpoint


# --- determinism ------------------------------------------------------------------------------------


def test_a_device_lives_the_same_life_whatever_shard_and_order_plays_it() -> None:
    s = with_journey(load_scenario("ecommerce"), faulty={"share": 0.3}, reinstall={"probability": 0.2})
    full = make_population(s, 40)
    whole = JourneyEngine(scenario=s, population=full)
    expected = {
        full.device_index(i): [(r.step, r.offset, r.body) for r in whole.device_life(i)] for i in range(len(full))
    }
    seen = {}
    for index in (1, 0, 2):  # shards in any order, devices backwards
        part = full.shard(index, 3)
        engine = JourneyEngine(scenario=s, population=part)
        for i in reversed(range(len(part))):
            seen[part.device_index(i)] = [(r.step, r.offset, r.body) for r in engine.device_life(i)]
    assert seen == expected


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    s = load_scenario("smoke")

    def dump(scenario: Scenario) -> bytes:
        engine = JourneyEngine(scenario=scenario, population=make_population(scenario, 30))
        return b"\n".join(payloads.dumps(r.body) for i in range(30) for r in engine.device_life(i))

    assert dump(s) == dump(s)
    assert dump(s) != dump(dataclasses.replace(s, seed=s.seed + 1))


# --- sessions, time, requests ----------------------------------------------------------------------


def test_a_pause_longer_than_the_session_timeout_starts_a_new_session() -> None:
    s = parse_scenario(FUNNEL.replace('think = "1s"', 'think = "40m"'))
    engine = JourneyEngine(scenario=s, population=make_population(s, 50))
    for i in range(50):
        batches = list(engine.sessions(i))
        steps = [r for b in batches for r in b if r.endpoint == "events"]
        assert len(batches) == len(steps)  # every step after a 40-minute pause is its own session
        assert len({b[0].body["sid"] for b in batches}) == len(batches)


@pytest.mark.parametrize("spans", ["session_gap", "think"])
def test_a_life_ends_before_the_year_10000_an_added_at_cannot_write(spans: str) -> None:
    """Before: 5,000 sessions 82 years apart (each draw within its bounds) stamped added_at
    "10078-07-23T15:19:07Z" from about the 100th session on, a body the contract and the mock
    refuse; 500 steps as far apart did the same."""
    long = "lognormal(30000d, 0.01)"
    if spans == "session_gap":
        text = FUNNEL.replace('sessions = "constant(1)"', f'sessions = "constant(5000)"\nsession_gap = "{long}"')
    else:  # one planned session of 500 steps, each after that span (each then opens a session: a timeout)
        text = f'seed = 5\n[journey]\nstart = "a"\nthink = "{long}"\nmax_steps = 500\nsessions = "constant(1)"\n'
        text += '[journey.states]\na = { event = "A", next = { a = 1.0 } }\n'
    s = parse_scenario(text)
    engine = JourneyEngine(scenario=s, population=make_population(s, 3))
    for i in range(3):
        life = list(engine.device_life(i))
        assert len(life) > 100, i  # it lived until then
        for r in life:
            assert contract.validate(r.endpoint, wire(r.body)) == [], r.body
        last = life[-1].body["added_at"]
        assert len(last) == len("2026-01-01T00:00:00Z") and int(last[:4]) >= 9900, last  # it ended at the limit


def test_returning_sessions_come_after_at_least_the_session_timeout() -> None:
    s = load_scenario("ecommerce")
    engine = JourneyEngine(scenario=s, population=make_population(s, 200))
    for i in range(200):
        batches = list(engine.sessions(i))
        for prev, nxt in itertools.pairwise(batches):
            assert nxt[0].offset - prev[-1].offset >= s.journey.session_timeout


def test_start_time_sets_added_at_and_stamp_moves_it_to_send_time() -> None:
    s = with_journey(load_scenario("ecommerce"), faulty={"share": 1.0, "rate": 1.0, "kinds": ("local_added_at",)})
    engine = JourneyEngine(scenario=s, population=make_population(s, 5), start_time=1_800_000_000)
    life = list(engine.device_life(0, start_time=1_700_000_000))
    stamped = [r for r in life if "added_at" in r.body]
    assert stamped and all(r.faulty for r in stamped)
    assert stamped[0].body["added_at"].startswith(payloads.iso_utc(1_700_000_000 + stamped[0].offset)[:10])
    r = stamped[0]
    r.stamp(1_773_294_315.4)
    assert r.body["added_at"] == "2026-03-12 05:45:15"  # still faulty, now at send time
    healthy = next(
        x
        for x in JourneyEngine(scenario=load_scenario("ecommerce"), population=make_population(s, 5)).device_life(0)
        if "added_at" in x.body
    )
    healthy.stamp(1_773_294_315.4)
    assert healthy.body["added_at"] == "2026-03-12T05:45:15Z"
    assert contract.validate(healthy.endpoint, wire(healthy.body)) == []


def test_default_start_is_fixed_so_a_seed_reproduces_bodies() -> None:
    s = load_scenario("smoke")
    engine = JourneyEngine(scenario=s, population=make_population(s, 1))
    assert engine.start_time == DEFAULT_START
    first = next(r for r in engine.device_life(0) if "added_at" in r.body)
    assert first.body["added_at"] == payloads.iso_utc(DEFAULT_START + first.offset)


def test_event_names_come_from_the_scenario() -> None:
    s = parse_scenario("""
[journey]
sessions = "constant(1)"
[journey.event_names]
purchase = "Order Completed"
[journey.states]
a = { action = "view_item", next = { b = 1.0 } }
b = { action = "add_to_cart", next = { c = 1.0 } }
c = { action = "begin_checkout", next = { d = 1.0 } }
d = { action = "purchase" }
""")
    engine = JourneyEngine(scenario=s, population=make_population(s, 3))
    steps = [r.step for r in engine.device_life(0)]
    assert steps == [
        "externalIds",
        "event:View Item",
        "event:Add to Cart",
        "event:Begin Checkout",
        "event:Order Completed",
    ]


def test_people_with_two_devices_identify_as_the_same_person_from_both() -> None:
    s = load_scenario("identity")
    pop = make_population(s, 2000)
    engine = JourneyEngine(scenario=s, population=pop)
    devices_of: defaultdict[int, list[int]] = defaultdict(list)
    for i in range(len(pop)):
        devices_of[pop.person_index(i)].append(i)
    pairs = [d for d in devices_of.values() if len(d) == 2]
    assert len(pairs) > 100
    both = 0
    for a, b in pairs:
        emails = [
            {r.body["traits"]["email"] for r in engine.device_life(i) if r.endpoint == "identify"} for i in (a, b)
        ]
        uids = [{r.body["uid"] for r in engine.device_life(i)} for i in (a, b)]
        assert not uids[0] & uids[1]  # two installs, two user ids
        if emails[0] and emails[1]:
            both += 1
            assert emails[0] == emails[1]  # one person: the mock must stitch them together
    assert both > 20


def test_a_schedule_places_returning_sessions_and_can_end_a_life() -> None:
    s = load_scenario("ecommerce")
    pop = Population.build(config=dataclasses.replace(s.population, devices=40), app=s.app, seed=s.seed)
    engine = JourneyEngine(scenario=s, population=pop)
    i = next(k for k in range(40) if len(list(engine.sessions(k))) >= 3)
    asked: list[float] = []

    def later(proposed: float) -> float:
        asked.append(proposed)
        return proposed + 86_400.0  # every returning session a day later than the engine would open it

    plain = list(engine.sessions(i))
    shifted = list(engine.device_life(i, schedule=later))
    assert len(asked) == len(plain) - 1
    opens = [r for r in shifted if r.endpoint == "externalIds"]
    for k, (a, b) in enumerate(zip(plain, opens, strict=True)):
        gap = b.offset - a[0].offset
        assert gap == pytest.approx(86_400.0 * k)
        ga = int(engine.start_time + b.offset)
        assert b.body["external_ids"]["google_analytics__app_session_id"] == str(ga)
    ended = list(engine.device_life(i, schedule=lambda proposed: None))
    assert [r.session for r in ended] == [0] * len(plain[0])  # the first session only


def test_scale_conversion_acts_on_the_sessions_that_follow_and_one_restores() -> None:
    s = load_scenario("ecommerce")
    pop = Population.build(config=dataclasses.replace(s.population, devices=600), app=s.app, seed=s.seed)
    engine = JourneyEngine(scenario=s, population=pop)

    def purchases() -> int:
        return sum(r.step == "event:Purchase" for i in range(600) for r in engine.device_life(i))

    plain = purchases()
    engine.scale_conversion(3.0)
    more = purchases()
    engine.scale_conversion(1.0)
    assert more > 1.5 * plain
    assert purchases() == plain
