"""The journey engine: what each device sends over its whole life, as plain data.

A device installs the app, opens it for a first session, then comes back for more sessions
(``[journey] sessions``, ``session_gap``; 30 minutes of inactivity ends a session). Within a
session it walks the scenario's state machine: each state it enters may send an event or an
identify, each transition waits a think time, whatever probability is left over ends the session.

What a real app would do holds by construction: a checkout shows a non-empty cart and a purchase
buys what the checkout showed; a reinstall brings a new user id (in the platform's UUID case), GA
app instance id and FCM token but keeps the advertising id; between sessions the disk fills and the
OS update may get installed; prices are the currency's price points, tax the buyer's country's.

The engine knows nothing of HTTP or Locust: a ``Request`` is an endpoint name, a step name, a body
dict and the intended time offset. The load runner maps endpoints to URLs and may re-stamp
``added_at`` at send time (``Request.stamp``); the dataset writer keeps simulated time.

Determinism: all randomness of device ``k`` comes from (scenario seed, global device index ``k``),
so device ``k``'s life is the same whichever shard plays it, in whatever order: what a session
decides as it walks (each transition, think time, product and quantity) is a hash of the seed,
the device, the session and the step (``simulator.draws``: a block of sessions can be walked at once),
the rest comes from one ``random.Random``: sessions, gaps, ids, clicks, aging, reinstalls, and the
draws of the rarer steps (an identify's email and phone, a checkout's coupon, a faulty SDK's
mistakes), taken as the requests are built, in order.
Bodies share read-only parts (device info, traits, identify_by, products):
change only ``added_at``, or copy.

Two hooks let a caller put lives on a calendar (``simulator.dataset`` does): ``device_life(...,
schedule=f)`` (and ``walk``) asks ``f`` when each returning session really starts (so ``added_at`` and the GA
session id are right the first time, and a life ends when ``f`` says so), and
``scale_conversion(m)`` makes the sessions that follow reach the commerce steps ``m`` times as often;
``set_campaign(name, share)`` makes that share of them open from the campaign's ads.
"""

from __future__ import annotations

import base64
import bisect
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simulator import draws, identity, payloads
from simulator.commerce import (
    ZERO_DECIMAL,
    Prices,
    Product,
    cart_line,
    cart_subtotal,
    load_products,
    price_points,
    round_money,
    tax_rates,
)
from simulator.scenario import FAULT_KINDS, USD_RATES, Scenario, normal_table

if TYPE_CHECKING:
    from simulator.population import Population

__all__ = [
    "DEFAULT_START",
    "ENGINE_VERSION",
    "JourneyEngine",
    "LifeState",
    "Node",
    "Product",
    "Request",
    "Step",
    "load_products",
]

#: The lives a seed gives: raised whenever the same scenario and seed give other lives or devices (2:
#: the draws inside a session's walk are counter-based, ``simulator.draws``; 3: FCM token bodies drawn
#: per device). A shard records it (``--merge`` joins only shards of one), and so does a dataset's
#: summary.json.
ENGINE_VERSION = 3

#: The first hour an ``added_at`` cannot write (10000-01-01T00: ISO 8601 years have four digits), in
#: hours since the epoch: a life whose clock reaches it ends there (its gaps and think times are each
#: at most 100 years, but a life of many of them is not).
_YEAR_10000_HOUR = 70_389_528

#: ``added_at`` of a device's first request unless the caller gives a start (2026-01-01T00:00:00Z):
#: fixed, so a seed reproduces bodies byte for byte.
DEFAULT_START = 1_767_225_600.0

#: Actions whose incoming transitions ``scale_conversion`` scales (the funnel after viewing an item).
_CONVERTING = frozenset({"add_to_cart", "begin_checkout", "purchase"})
#: Click id per utm_source; google on iOS is a web-to-app ``wbraid`` (no gclid after ATT).
_CLICK_ID = {"google": "gclid", "facebook": "fbclid", "instagram": "fbclid", "bing": "msclkid"}
_MEDIUM = {"google": "cpc", "bing": "cpc", "facebook": "paid_social", "instagram": "paid_social"}
#: Share of storage a phone fills per day on average, and the chance a session finds space cleared.
_FILL_PER_DAY = 0.002
_CLEANUP = 0.03
#: Daily chance a device not on its newest OS release installs it (new releases reach most
#: devices within a few months: Apple's and Google's adoption figures).
_UPDATE_PER_DAY = 0.02


# --- timestamps ------------------------------------------------------------------------------


def _local_time(stamp: str) -> str:
    """A faulty SDK's ``added_at``: wall-clock text with no zone (the contract wants ...Z)."""
    return stamp[:-1].replace("T", " ")


# --- requests --------------------------------------------------------------------------------


@dataclass(slots=True)
class Request:
    """One request a device sends: plain data, no HTTP."""

    #: ``externalIds``, ``identify`` or ``events`` (the runner maps it to a URL).
    endpoint: str
    #: The request name: ``externalIds``, ``identify`` or ``event:<event name>``.
    step: str
    body: dict[str, Any]
    #: Intended seconds since the device's first request; never decreases within a device.
    offset: float
    #: Shared per install: do not mutate.
    headers: dict[str, str]
    #: A faulty-SDK body the contract rejects: a 400 is the expected answer.
    faulty: bool = False
    #: Which mistake (one of ``scenario.FAULT_KINDS``) when faulty.
    fault: str | None = None
    #: Session number in the device's life (0 = first); changes with every externalIds.
    session: int = 0

    def stamp(self, epoch: float) -> None:
        """Move ``added_at`` to ``epoch`` (send time), keeping a faulty local-time stamp faulty."""
        body = self.body
        if "added_at" in body:
            stamp = payloads.iso_utc(epoch)
            body["added_at"] = _local_time(stamp) if self.fault == "local_added_at" else stamp


# --- the compiled state machine --------------------------------------------------------------


@dataclass(slots=True)
class Node:
    """A state of the compiled journey: what entering it sends, and where it leads."""

    name: str
    action: str
    step: str
    event: str
    properties: dict[str, Any]
    products: tuple[int, ...]
    #: Outgoing transitions as cumulative probabilities, target indices, and edges (target node and
    #: think time, unpacked in one step: a lognormal (or constant: sigma 0) as median and sigma, drawn
    #: inline, anything else by its sampler).
    cum: list[float] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)
    edges: list[tuple[Node, float, float, Callable[[Any], float] | None]] = field(default_factory=list)
    #: e-commerce actions: the method that builds the request.
    handler: Callable[[LifeState, Node, str], Request | None] | None = None


@dataclass(slots=True)
class LifeState:
    """One device's mutable state across its sessions: ``walk``'s callers read it and change it only
    through the engine's methods (``send``, ``search``, ``view_item``, ``add_to_cart``)."""

    rnd: Any
    gi: int
    device: payloads.Device
    #: The population's index of the device: its person is built when first needed (at identify;
    #: most devices never log in, and a person costs as much as a few requests).
    index: int
    headers: dict[str, str]
    prices: Prices
    uid: str
    faulty: bool
    base: float
    #: ``device_life``'s ``schedule``: the epoch a returning session really starts, or None (life over).
    schedule: Callable[[float], float | None] | None = None
    person: payloads.Person | None = None
    t: float = 0.0
    session: int = -1
    sid: str = ""
    ga: str = ""
    by: dict[str, str] = field(default_factory=dict)
    identified: bool = False
    ever_identified: bool = False
    utm: dict[str, str] | None = None
    orders: int = 0
    #: product index -> quantity in the cart; ``checked_out`` once Begin Checkout showed it.
    cart: dict[int, int] = field(default_factory=dict)
    checked_out: bool = False
    viewed: int = -1
    searched: int = -1
    search_string: str = ""
    #: Epoch the last session opened; free and total storage in GB (free < 0: not read yet).
    opened: float = 0.0
    free: float = -1.0
    total: float = 0.0
    #: Whether the device installed its OS update yet (it updates once, to the newest release).
    updated: bool = False
    #: The current step's counter-based bits (``draws.step_bits``): its product and quantity draw from them.
    bits: int = 0


#: A step of ``JourneyEngine.walk``: ``(None, request)`` or ``(node entered, its added_at)``. Any,
#: not a union of the two tuples: a caller unpacks ``node, x`` and tests ``node``, which mypy does
#: not carry over to ``x``.
Step = tuple[Node | None, Any]


class JourneyEngine:
    """Requests of each device of a population, following a scenario's journey."""

    def __init__(
        self,
        *,
        scenario: Scenario,
        population: Population,
        start_time: float | None = None,
        products: tuple[Product, ...] | None = None,
    ) -> None:
        self.scenario = scenario
        self.population = population
        #: Epoch of each device's first request (``added_at`` = start_time + offset).
        self.start_time = DEFAULT_START if start_time is None else float(start_time)
        j = scenario.journey
        self._j = j
        self._seed = scenario.seed
        self._app_id = scenario.app.app_id
        self._sep = scenario.app.user_id_separator
        self._products = products if products is not None else load_products()
        self._by_category: dict[str, list[int]] = {}
        for k, p in enumerate(self._products):
            self._by_category.setdefault(p.category, []).append(k)
        self._all = tuple(range(len(self._products)))
        self._prices: dict[str, Prices] = {}
        names = j.event_names
        index = {name: k for k, name in enumerate(j.states)}
        self._nodes: list[Node] = []
        for name, st in j.states.items():
            event = st.event or names.get(st.action, "")
            cats = [k for c in st.categories for k in self._by_category.get(c, ())]
            step = j.step(st)
            self._nodes.append(Node(name, st.action, step, event, dict(st.properties), tuple(cats) or self._all))
        for tr in j.transitions:
            node = self._nodes[index[tr.source]]
            node.cum.append((node.cum[-1] if node.cum else 0.0) + tr.p)
            node.targets.append(index[tr.target])
            d = tr.think
            inline = d.kind in ("lognormal", "constant") and d.low <= 0.0 and d.high == math.inf
            node.edges.append(
                (
                    self._nodes[index[tr.target]],
                    d.value,
                    d.sigma if d.kind == "lognormal" else 0.0,
                    None if inline else d.sampler(),
                )
            )
        handlers = {
            "search": self._search,
            "view_item": self._view_item,
            "add_to_cart": self._add_to_cart,
            "begin_checkout": self._begin_checkout,
            "purchase": self._purchase,
        }
        for node in self._nodes:
            node.handler = handlers.get(node.action)
        self._start = index[j.start]
        self._sessions = j.sessions.sampler()  # once: a sampler is a closure, a device's draw a call
        self._gap = j.session_gap.sampler()
        a = j.attribution
        self._sources = [s for s, w in a.sources.items() if w > 0]
        weights = [a.sources[s] for s in self._sources]
        total = sum(weights) or 1.0
        acc = 0.0
        self._source_cum = []
        for w in weights:
            acc += w / total
            self._source_cum.append(acc)
        f = j.faulty
        self._fault_kinds = f.kinds or FAULT_KINDS
        # scale_conversion: the configured tables, and scaled ones built once per multiplier.
        self._base_cum = [list(n.cum) for n in self._nodes]
        self._cum_tables: dict[float, list[list[float]]] = {1.0: self._base_cum}
        self._conversion = 1.0
        c = j.commerce
        self._coupons = list(c.coupons.items())
        self._campaign, self._campaign_share = "", 0.0
        # What a reinstall downloads: the newest app release in the store (stand-ins may not say).
        store = getattr(population, "store_release", None)
        self._store_release: tuple[str, str] | None = store if isinstance(store, tuple) else None

    # --- public API ------------------------------------------------------------------------

    def device_life(
        self, i: int, *, start_time: float | None = None, schedule: Callable[[float], float | None] | None = None
    ) -> Iterator[Request]:
        """Every request of device ``i`` (population-local index), all sessions and reinstalls, in order.

        ``schedule``, if given, is called as each session after the first opens, with the epoch the
        engine would open it at; it returns the epoch to open it at instead (not earlier), or None
        to end the device's life there. The session keeps its inner timing from that start.
        """
        return self._life(i, self.start_time if start_time is None else start_time, schedule)

    def scale_conversion(self, multiplier: float) -> None:
        """Sessions from now on take the transitions into add-to-cart, checkout and purchase
        ``multiplier`` times as often (a campaign day's conversion); 1.0 restores the scenario's.
        Where the scaled probabilities would exceed 1, a state's transitions are renormalised."""
        if multiplier == self._conversion:
            return
        tables = self._cum_tables.get(multiplier)
        if tables is None:
            tables = self._cum_tables[multiplier] = [
                self._scaled_cum(node, cum, multiplier) for node, cum in zip(self._nodes, self._base_cum, strict=True)
            ]
        # The engine reads a node's table afresh at every step, so a swap acts from the next step on.
        for node, cum in zip(self._nodes, tables, strict=True):
            node.cum = cum
        self._conversion = multiplier

    def set_campaign(self, name: str, share: float) -> None:
        """Sessions opened from now on come from campaign ``name``'s ads with probability ``share``
        (utm_campaign = the name); "" ends it. The calendar sets it on the campaign's days only."""
        self._campaign, self._campaign_share = name, share

    def sessions(self, i: int, *, start_time: float | None = None) -> Iterator[list[Request]]:
        """The same requests grouped per session (each list starts with externalIds)."""
        batch: list[Request] = []
        current = 0
        for req in self._life(i, self.start_time if start_time is None else start_time, None):
            if req.session != current and batch:
                yield batch
                batch = []
            current = req.session
            batch.append(req)
        if batch:
            yield batch

    def rng_seed(self, global_index: int) -> int:
        """The seed of device ``global_index``'s random stream (hash-free: the same in every process)."""
        return (self._seed << 32) ^ global_index

    # --- the life of a device ----------------------------------------------------------------

    def _scaled_cum(self, node: Node, cum: list[float], m: float) -> list[float]:
        nodes = self._nodes
        ps = [c - (cum[i - 1] if i else 0.0) for i, c in enumerate(cum)]
        ps = [p * m if nodes[node.targets[i]].action in _CONVERTING else p for i, p in enumerate(ps)]
        total = sum(ps)
        if total > 1.0:
            ps = [p / total for p in ps]
        out, acc = [], 0.0
        for p in ps:
            acc += p
            out.append(acc)
        return out

    def _prices_for(self, currency: str) -> Prices:
        p = self._prices.get(currency)
        if p is None:
            c = self._j.commerce
            rate = c.usd_rates.get(currency) or USD_RATES.get(currency, 1.0)
            decimals = 0 if currency in ZERO_DECIMAL else 2
            p = Prices(currency, decimals, rate, [], [], price_points().get(currency, ()))
            for prod in self._products:
                price = p.money(prod.price_usd)
                p.prices.append(price)
                p.items.append(
                    {
                        "product_id": prod.product_id,
                        "product_name": prod.name,
                        "product_price": price,
                        "product_quantity": 1,
                    }
                )
            self._prices[currency] = p
        return p

    def walk(
        self, i: int, *, start_time: float | None = None, schedule: Callable[[float], float | None] | None = None
    ) -> tuple[LifeState, Iterator[Step]]:
        """Device ``i``'s life as the engine decides it, for a caller that renders the requests itself
        (the dataset writes bytes, never dicts): its state, and its steps in order.

        A step is ``(None, request)`` for a request the engine built (a session's externalIds, a
        re-login's identify), or ``(node, added_at)`` where the device entered a state whose action
        sends something: the caller sends it before taking the next step, reading the ids, cart and
        clock from the state. Every random draw is the engine's and in the same order, so any renderer
        of the steps gives the same life, provided it makes each step's draws as ``send`` would:
        ``send`` itself (it builds the request as ``device_life`` does), or, for a search, a product
        view or a cart add, ``search``, ``view_item`` or ``add_to_cart``, then its own body. A faulty
        SDK draws for every request it sends (``send``'s fault): its steps all go through ``send``.
        """
        life = self._new_life(i, self.start_time if start_time is None else start_time, schedule)
        return life, self._walk(life)

    def send(self, life: LifeState, node: Node, stamp: str) -> Request | None:
        """What entering ``node`` at ``stamp`` sends (None: nothing, e.g. an empty cart cannot check out)."""
        action = node.action
        if action == "event":
            body = payloads.event(
                self._app_id, life.uid, life.sid, node.event, stamp, life.by, node.properties, utm=life.utm
            )
            if life.faulty:
                return self._request(life, "events", node.step, body)
            return Request("events", node.step, body, life.t, life.headers, False, None, life.session)
        if action == "identify":
            return None if life.identified else self._identify(life)
        return node.handler(life, node, stamp)  # type: ignore[misc]  # set for every other action

    def _life(self, i: int, base: float, schedule: Callable[[float], float | None] | None) -> Iterator[Request]:
        life = self._new_life(i, base, schedule)
        send = self.send
        for node, x in self._walk(life):
            if node is None:
                yield x
            else:
                req = send(life, node, x)
                if req is not None:
                    yield req

    def _new_life(self, i: int, base: float, schedule: Callable[[float], float | None] | None) -> LifeState:
        pop = self.population
        gi = pop.device_index(i)
        rnd = random.Random(self.rng_seed(gi))
        device = pop.device(i)
        return LifeState(
            rnd=rnd,
            gi=gi,
            device=device,
            index=i,
            headers=payloads.headers(device),
            prices=self._prices_for(device["currency"]),
            uid=identity.user_id(self._app_id, pop.user_uuid(i), self._sep),
            faulty=rnd.random() < self._j.faulty.share,
            base=base,
            schedule=schedule,
        )

    def _walk(self, life: LifeState) -> Iterator[Step]:
        # One flat generator with the hot state in locals: a step costs a microsecond or two, and
        # attribute loads or a second generator frame per step would cost a third more.
        rnd = life.rnd
        j = self._j
        n_sessions = max(1, int(self._sessions(rnd)))
        timeout = j.session_timeout
        max_steps = j.max_steps
        reinstall_p, relogin_p = j.reinstall.probability, j.reinstall.relogin
        start = self._nodes[self._start]
        app_id = self._app_id
        base = life.base
        random_ = rnd.random
        device_seed = self.rng_seed(life.gi)
        session_key, unit, z_mask = draws.session_key, draws.UNIT, draws.Z_MASK
        golden, m1, m2, mask = draws.GOLDEN, draws.M1, draws.M2, draws.MASK
        bisect_right = bisect.bisect_right
        exp = math.exp
        z = normal_table()
        mmss = payloads.MMSS_Z  # added_at inline: hour_prefix + MMSS_Z, as payloads.iso_utc builds it
        hour, prefix = -1, ""
        for s in range(n_sessions):
            relogin = False
            if s:
                life.t += max(self._gap(rnd), timeout)
                if random_() < reinstall_p:
                    # A new install: new user id (in the platform's UUID case), new GA app instance id and
                    # FCM token (both belong to the install), the same advertising id (the device's);
                    # anonymous until the person logs in again.
                    uuid = identity.uuid4_from(rnd)
                    ios = life.device["platform"] == "ios"
                    life.uid = identity.user_id(app_id, uuid.upper() if ios else uuid, self._sep)
                    life.device = _reinstalled(life.device, rnd, self._store_release)
                    life.by = {}
                    life.identified = False
                    relogin = life.ever_identified and random_() < relogin_p
            opened = self._open(life)
            if opened is None:
                return
            yield None, opened
            if relogin:
                yield None, self._identify(life)
            # life.t is the device's clock: every step reads and moves it, so the senders (which
            # read it for their requests) and the loop never disagree.
            node = start
            steps = 0
            counter = session_key(device_seed, s)
            while True:
                # draws.step_bits(key, steps), inline (a call per step costs a third of the hash)
                counter += golden
                x = counter & mask
                x = ((x ^ (x >> 30)) * m1) & mask
                x = ((x ^ (x >> 27)) * m2) & mask
                life.bits = bits = x ^ (x >> 31)
                if node.action != "none":
                    # added_at, inline: the hour's prefix changes rarely (iso_utc_fast without a call)
                    sec = int(base + life.t)
                    h = sec // 3600
                    if h != hour:
                        if h >= _YEAR_10000_HOUR:
                            return
                        hour = h
                        prefix = payloads.hour_prefix(h)
                    yield node, prefix + mmss[sec - h * 3600]
                steps += 1
                if steps >= max_steps:
                    break
                cum = node.cum
                k = bisect_right(cum, (bits >> 16) * unit)
                if k == len(cum):
                    break  # the leftover probability ends the session
                target, median, sigma, sampler = node.edges[k]
                if sampler is None:
                    dt = median * exp(sigma * z[bits & z_mask]) if sigma else median
                else:
                    dt = sampler(_StepSource(bits))
                life.t += dt
                if dt > timeout:
                    # The phone lay idle longer than the session timeout: the app opens a new session.
                    opened = self._open(life)
                    if opened is None:
                        return
                    yield None, opened
                node = target

    def _open(self, life: LifeState) -> Request | None:
        """A new session: fresh sid, GA session id, maybe an ad click; the externalIds request
        (None: the schedule ended the life, or its clock reached the year 10000)."""
        now = life.base + life.t
        if life.schedule is not None and life.session >= 0:
            begin = life.schedule(now)
            if begin is None:
                return None
            life.t, now = begin - life.base, begin
        if now >= _YEAR_10000_HOUR * 3600:
            return None
        rnd = life.rnd
        if life.session >= 0:
            self._age(life, (now - life.opened) / 86400.0)
        life.opened = now
        life.session += 1
        life.sid = identity.session_id(identity.uuid4_from(rnd))
        life.ga = str(int(now))
        life.cart = {}
        life.checked_out = False
        life.viewed = life.searched = -1
        life.search_string = ""
        click = None
        life.utm = None
        a = self._j.attribution
        campaign = ""
        if self._campaign and self._sources and rnd.random() < self._campaign_share:
            campaign = self._campaign  # a dated campaign's ad brought this session
        elif a.share and rnd.random() < a.share and self._sources:
            campaign = a.campaigns[int(rnd.random() * len(a.campaigns))]
        if campaign:
            source = self._sources[bisect.bisect_left(self._source_cum, rnd.random() * self._source_cum[-1])]
            life.utm = {
                "utm_source": source,
                "utm_medium": _MEDIUM.get(source, "deeplink"),
                "utm_campaign": campaign,
                "utm_content": f"ad_{1 + int(rnd.random() * 39):02d}",
            }
            key = _CLICK_ID.get(source)
            if key:
                if key == "gclid" and life.device["platform"] == "ios":
                    key = "wbraid"
                click = {key: _click_id(rnd, key)}
        body = payloads.session_start(
            self._app_id, life.device, life.uid, life.sid, life.ga, utm=life.utm, click_ids=click
        )
        return self._request(life, "externalIds", "externalIds", body)

    def _age(self, life: LifeState, days: float) -> None:
        """Between sessions the phone lives on: its disk fills (photos, caches, apps) and is now and
        then cleared, and the user may install the OS update waiting for it."""
        rnd = life.rnd
        info = life.device["info"]
        if life.free < 0:
            life.total = float(info["externalStorageSize"])
            life.free = float(info["freeSpaceExternalStorage"])
        total = life.total
        free = life.free - total * _FILL_PER_DAY * days * 2.0 * rnd.random()
        if rnd.random() < _CLEANUP:
            free += total * (0.02 + 0.08 * rnd.random())
        life.free = free = min(max(free, total * 0.01), total * 0.95)
        changes: dict[str, Any] = {"freeSpaceExternalStorage": f"{free:.2f}"}
        if not life.updated and rnd.random() < 1.0 - math.exp(-_UPDATE_PER_DAY * days):
            life.updated = True
            update = self.population.os_update(life.index)
            if update:
                changes.update(update)
        device = {**life.device, "info": {**info, **changes}}
        life.device = device  # type: ignore[assignment]
        if "user_agent" in changes:
            life.headers = payloads.headers(life.device)

    def _request(self, life: LifeState, endpoint: str, step: str, body: dict[str, Any]) -> Request:
        if life.faulty and life.rnd.random() < self._j.faulty.rate:
            fault = _break(body, endpoint, self._fault_kinds, life.rnd)
            if fault is not None:
                return Request(endpoint, step, body, life.t, life.headers, True, fault, life.session)
        return Request(endpoint, step, body, life.t, life.headers, False, None, life.session)

    def _identify(self, life: LifeState) -> Request:
        rnd = life.rnd
        idc = self._j.identify
        email = rnd.random() < idc.email
        phone = rnd.random() < idc.phone
        person = life.person
        if person is None:
            person = life.person = self.population.person(life.index)
        life.by = payloads.identify_by(person, email=email or not phone, phone=phone)
        life.identified = life.ever_identified = True
        body = payloads.identify(
            self._app_id,
            life.device,
            life.uid,
            life.sid,
            life.ga,
            person,
            payloads.iso_utc(life.base + life.t),
            life.by,
        )
        return self._request(life, "identify", "identify", body)

    # --- e-commerce --------------------------------------------------------------------------

    def _emit(
        self, life: LifeState, node: Node, stamp: str, props: dict[str, Any], products: list[dict[str, Any]] | None
    ) -> Request:
        if node.properties:
            props.update(node.properties)
        body = payloads.event(
            self._app_id, life.uid, life.sid, node.event, stamp, life.by, props, products=products, utm=life.utm
        )
        if life.faulty:
            return self._request(life, "events", node.step, body)
        return Request("events", node.step, body, life.t, life.headers, False, None, life.session)

    def _pick(self, life: LifeState, node: Node) -> int:
        products = node.products
        return products[int(draws.fraction(draws.derived(life.bits, draws.PICK)) * len(products))]

    # The product steps in two halves, decision then body: the dataset takes the decisions (the
    # draws) and renders the bodies as bytes itself (``search_props`` and the others give it the parts).

    def search(self, life: LifeState, node: Node) -> int:
        """The product a search finds (it is viewed next)."""
        k = life.searched = self._pick(life, node)
        life.search_string = self._products[k].search_term
        return k

    def search_props(self, k: int) -> dict[str, Any]:
        return {"search_string": self._products[k].search_term}

    def view_item(self, life: LifeState, node: Node) -> int:
        """The product viewed: the one the search found, else one of the state's."""
        if life.searched >= 0:
            k, life.searched = life.searched, -1
        else:
            k = self._pick(life, node)
        life.viewed = k
        return k

    @staticmethod
    def view_props(prices: Prices, k: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return {"value": prices.prices[k], "currency": prices.currency}, [prices.items[k]]

    def add_to_cart(self, life: LifeState, node: Node) -> tuple[int, int]:
        """The product (the one viewed, else one of the state's) and quantity added to the cart."""
        k = life.viewed if life.viewed >= 0 else self._pick(life, node)
        qty = self._quantity(life.bits)
        life.cart[k] = life.cart.get(k, 0) + qty
        life.checked_out = False  # the cart changed: checkout shows it again
        return k, qty

    @staticmethod
    def cart_props(prices: Prices, k: int, qty: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        props = {"value": round_money(prices.prices[k] * qty, prices.decimals), "currency": prices.currency}
        return props, [cart_line(prices, k, qty)]

    def _search(self, life: LifeState, node: Node, stamp: str) -> Request:
        return self._emit(life, node, stamp, self.search_props(self.search(life, node)), None)

    def _view_item(self, life: LifeState, node: Node, stamp: str) -> Request:
        return self._emit(life, node, stamp, *self.view_props(life.prices, self.view_item(life, node)))

    def _add_to_cart(self, life: LifeState, node: Node, stamp: str) -> Request:
        return self._emit(life, node, stamp, *self.cart_props(life.prices, *self.add_to_cart(life, node)))

    def _begin_checkout(self, life: LifeState, node: Node, stamp: str) -> Request | None:
        if not life.cart:
            return None
        life.checked_out = True
        prices = life.prices
        props = {"value": cart_subtotal(prices, life.cart), "currency": prices.currency}
        return self._emit(life, node, stamp, props, [cart_line(prices, k, q) for k, q in life.cart.items()])

    def _tax(self, life: LifeState) -> tuple[float, bool]:
        """The sales tax of the buyer's country (or state) and whether prices include it; the
        scenario's ``tax_rate``, added on top, where the catalogue has no rate."""
        person = life.person
        if person is None:
            person = life.person = self.population.person(life.index)
        country = life.device["country"]
        rates = tax_rates()
        found = rates.get((country, person.get("state", ""))) or rates.get((country, ""))
        return found if found is not None else (self._j.commerce.tax_rate, False)

    def _quantity(self, bits: int) -> int:
        """One unit three times in four, else 2 to ``max_quantity`` alike (a step's ``QUANTITY`` draw:
        its low 16 bits for the first choice, its fraction for the second)."""
        m = self._j.commerce.max_quantity
        q = draws.derived(bits, draws.QUANTITY)
        return 1 if m == 1 or q & 0xFFFF < 49152 else 2 + int(draws.fraction(q) * (m - 1))

    def _purchase(self, life: LifeState, node: Node, stamp: str) -> Request | None:
        # A purchase buys the cart a checkout showed: without both, the app has nothing to buy.
        if not life.checked_out or not life.cart:
            return None
        rnd = life.rnd
        c = self._j.commerce
        prices = life.prices
        d = prices.decimals
        cart = life.cart
        subtotal = cart_subtotal(prices, cart)
        shipping = 0.0 if subtotal >= prices.money(c.free_shipping_over_usd) else prices.money(c.shipping_usd)
        rate, inclusive = self._tax(life)
        life.orders += 1
        props: dict[str, Any] = {
            "value": 0.0,
            "currency": prices.currency,
            # Unique across devices, sessions and runs of the same seed: device and order number.
            "transaction_id": f"TXN-{self._seed:x}-{life.gi:x}-{life.orders}",
            "shipping": shipping,
            "tax": 0.0,
            "discount": 0.0,
            "affiliation": c.affiliation,
            "description": f"{sum(cart.values())} item(s)",
        }
        discount = 0.0
        if self._coupons and rnd.random() < c.coupon_share:
            code, share = self._coupons[int(rnd.random() * len(self._coupons))]
            if not (code.upper().startswith("WELCOME") and life.orders > 1):  # a welcome code: first order only
                discount = round_money(subtotal * share, d)
                props["coupon"] = code
                props["discount"] = discount
        if life.search_string:
            props["search_string"] = life.search_string
        taxable = subtotal - discount
        if inclusive:  # VAT/GST countries: the price holds the tax; the order shows what it contains
            tax = round_money(taxable * rate / (1.0 + rate), d)
            props["value"] = round_money(taxable + shipping, d)
        else:  # sales tax is added at checkout
            tax = round_money(taxable * rate, d)
            props["value"] = round_money(taxable + shipping + tax, d)
        props["tax"] = tax
        products = [cart_line(prices, k, q) for k, q in cart.items()]
        life.cart = {}
        life.checked_out = False
        return self._emit(life, node, stamp, props, products)


class _StepSource:
    """The random source a think time's sampler (``Distribution.sampler``) draws from at one step:
    counter-based like the step (a lognormal's quantile is the step's, any fraction its ``THINK`` draw)."""

    __slots__ = ("_bits",)

    def __init__(self, bits: int) -> None:
        self._bits = bits

    def random(self) -> float:
        return draws.fraction(draws.derived(self._bits, draws.THINK))

    def getrandbits(self, k: int) -> int:
        if k != 16:
            raise ValueError(f"a step's think time draws 16 bits, not {k}")
        return self._bits & draws.Z_MASK

    def expovariate(self, lambd: float) -> float:
        return -math.log(1.0 - self.random()) / lambd  # as random.Random.expovariate


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _reinstalled(device: payloads.Device, rnd: Any, release: tuple[str, str] | None) -> payloads.Device:
    """The device after a reinstall: a new GA app instance id (32 hex) and FCM token (a new Firebase
    installation id, whose first 4 bits are 0111, then ``:APA91b`` and the token body), the store's
    current app ``release`` (version, build); the advertising id and everything the hardware fixes stay."""
    fid = bytearray(rnd.getrandbits(128).to_bytes(16, "big"))
    fid[0] = (fid[0] & 0x0F) | 0x70
    tail = rnd.getrandbits(99 * 8).to_bytes(99, "big")
    token = (
        base64.b64encode(bytes(fid))[:22].translate(_URLSAFE).decode()
        + ":APA91b"
        + base64.b64encode(tail).translate(_URLSAFE).decode()
    )
    info = {**device["info"], "fcmToken": token}
    if release is not None:
        info["app_version_name"] = info["shortVersion"] = release[0]
        info["longVersion"] = release[1]
    return {**device, "ga_app_instance_id": f"{rnd.getrandbits(128):032x}", "info": info}


def _click_id(rnd: Any, key: str) -> str:
    """Click ids shaped like the real ones (prefix and length), random and seeded."""
    if key == "msclkid":
        return f"{rnd.getrandbits(128):032x}"
    prefix, size = {"gclid": ("Cj0KCQjw", 66), "wbraid": ("CjkKCQjw", 42), "fbclid": ("IwAR", 45)}[key]
    raw = rnd.getrandbits(size * 8).to_bytes(size, "big")
    return prefix + base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- faulty SDKs ---------------------------------------------------------------------------------

#: Which mistakes can happen on which endpoint.
_FAULTS_BY_ENDPOINT: dict[str, tuple[str, ...]] = {
    "externalIds": ("missing_sid", "missing_uid", "string_limit_ad_tracking"),
    "identify": ("missing_sid", "missing_uid", "local_added_at", "missing_identify_by", "string_age"),
    "events": ("missing_sid", "missing_uid", "local_added_at", "missing_identify_by", "string_price"),
}


def _break(body: dict[str, Any], endpoint: str, allowed: tuple[str, ...], rnd: Any) -> str | None:
    """Make ``body`` malformed in one of the ways a faulty SDK does; the mistake, or None if none fits."""
    kinds = [k for k in _FAULTS_BY_ENDPOINT[endpoint] if k in allowed]
    if endpoint == "events" and "products" not in body and "string_price" in kinds:
        kinds.remove("string_price")
    if not kinds:
        return None
    kind = kinds[int(rnd.random() * len(kinds))]
    if kind == "missing_sid":
        del body["sid"]
    elif kind == "missing_uid":
        del body["uid"]
    elif kind == "local_added_at":
        body["added_at"] = _local_time(body["added_at"])
    elif kind == "missing_identify_by":
        del body["identify_by"]
    elif kind == "string_age":
        body["traits"] = {**body["traits"], "age": str(body["traits"].get("age", 30))}
    elif kind == "string_price":
        body["products"] = [{**p, "product_price": f"{p['product_price']}"} for p in body["products"]]
    else:  # string_limit_ad_tracking: "yes" is neither a boolean nor "true"/"false"
        body["additional_info"] = {**body["additional_info"], "limitAdTracking": "yes"}
    return kind
