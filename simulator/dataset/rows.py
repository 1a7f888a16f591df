"""A device played on the calendar: each request as a sort key, its body line and its table row."""

from __future__ import annotations

import bisect
import datetime
import operator
import random
from collections import Counter
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import IO, Any, NamedTuple

import orjson

from simulator.contract import MMSS_Z, hour_prefix, iso_utc
from simulator.dataset.calendar import Calendar, Offsets
from simulator.dataset.fragments import Fragments, Props
from simulator.dataset.layout import ENDPOINT_NAMES, TABLE_COLUMNS, DatasetError, OptionError
from simulator.dataset.runs import DEVICE_SHIFT, LEN_MASK, LEN_SHIFT, LIMITS, SEQ_SHIFT, TIME_SHIFT, Record
from simulator.dataset.stats import COMMERCE, Stats
from simulator.journey import JourneyEngine, Request
from simulator.population import NoDevicesOn, Population
from simulator.scenario import USD_RATES, Scenario, TimeConfig

_CALENDAR_STREAM = 0x7105_DA7A


def _csv(value: Any) -> str:
    if value is None:
        return ""
    if type(value) is str:
        return _quote(value)
    if value is True or value is False:
        return "1" if value else "0"
    return str(value)


def _quote(value: str) -> str:
    if "," in value or '"' in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


class _Memo(dict[Any, str]):
    """Text of a small vocabulary computed once per value; bounded, so a stray large one cannot grow it forever."""

    def __init__(self, text: Callable[[Any], str]) -> None:
        super().__init__()
        self._text = text

    def __missing__(self, key: Any) -> str:
        text = self._text(key)
        if len(self) < 100_000:
            self[key] = text
        return text


#: CSV text of event names, utm values, coupons.
ESCAPED = _Memo(_csv)
#: Money values as text (prices and totals repeat; a float's repr is slow). Floats only: 5 and
#: 5.0 are one dict key but two texts.
_FLOAT_TEXT = _Memo(repr)


def usd_value(value: Any, currency: Any, rates: dict[str, float]) -> float | None:
    """``value`` in US dollars at the catalogue's documented rates (local prices are local price
    points, so this is near, not equal to, the product's USD price); None for no value or a faulty
    SDK's text or boolean."""
    if value.__class__ not in (int, float) or not isinstance(currency, str):
        return None
    return round(value / (rates.get(currency) or USD_RATES.get(currency, 1.0)), 2)


#: "MM:SS" of the local wall clock: ``added_at``'s tail without its Z.
_MMSS_LOCAL = [x[:-1] for x in MMSS_Z]
_NOTHING = object()
_EP_INDEX = {ep: k for k, ep in enumerate(ENDPOINT_NAMES)}
_QUANTITY = operator.itemgetter("product_quantity")
#: The funnel bit of a session whose start (externalIds) is a healthy request: the funnel's first stage,
#: as in a run's report (a faulty SDK's malformed start, answered 400, starts no session of the funnel).
_STARTED = 1 << len(COMMERCE)
#: The funnel steps (indices into COMMERCE) a session's funnel bits name, per value of the bits.
_FUNNEL_STEPS = [tuple(k for k in range(len(COMMERCE)) if bits >> k & 1) for bits in range(_STARTED << 1)]
#: Steps a well-behaved SDK's body is rendered for from fragments (``fragments.Fragments``).
_FAST_ACTIONS = frozenset({"event", "view_item", "search", "add_to_cart"})


def _items(products: list[dict[str, Any]] | None, faulty: bool) -> int:
    """The ``items`` column: units ordered; a faulty body's products (maybe malformed) are counted."""
    if not products:
        return 0
    return len(products) if faulty else sum(map(_QUANTITY, products))


def _commerce_columns(props: dict[str, Any], products: list[dict[str, Any]] | None, faulty: bool, usd: _Memo) -> str:
    """``value,currency,value_usd,transaction_id,items,coupon`` of an event with a value."""
    esc, value, currency = ESCAPED, props["value"], props.get("currency")
    text = _FLOAT_TEXT[value] if value.__class__ is float else value
    return (
        f"{text},{esc[currency]},{usd[value, currency]},{esc[props.get('transaction_id')]},"
        f"{_items(products, faulty)},{esc[props.get('coupon')]}"
    )


def _utm_columns(utm: dict[str, Any] | None) -> str:
    """``utm_source,utm_medium,utm_campaign`` of an ad-click session (empty otherwise)."""
    if not utm:
        return ",,"
    esc = ESCAPED
    return f"{esc[utm.get('utm_source')]},{esc[utm.get('utm_medium')]},{esc[utm.get('utm_campaign')]}"


class _Played(NamedTuple):
    """What playing one device gave: its counts and the simulated days it was active."""

    requests: int
    faulty: int
    purchases: int
    sessions: int
    active_days: set[int]


class _Life:
    """A device on the calendar while it is played: its zone's offsets, its install, the end of its
    life (churn) and of the period, and where the calendar put its current session.

    The engine asks ``schedule`` where each returning session starts (``JourneyEngine.walk``)
    and keeps the session's inner timing from there."""

    __slots__ = (
        "_cal",
        "_engine",
        "_rnd",
        "_shift",
        "_timeout",
        "begin",
        "churned",
        "end_utc",
        "install",
        "last_t",
        "life_end",
        "off",
        "tz",
        "until",
    )

    def __init__(self, cal: Calendar, engine: JourneyEngine, rnd: random.Random, tz: str, timeout: float) -> None:
        self._cal, self._engine, self._rnd, self._timeout, self.tz = cal, engine, rnd, timeout, tz
        self.off = off = cal.offsets(tz)
        self.install = install = cal.install(rnd, off)
        self.life_end = install + cal.lifetime(rnd)
        self.end_utc = cal.to_utc(off, cal.end_naive)
        self.until = min(self.life_end, self.end_utc)
        #: How far the current session moved from where the engine would have put it.
        self._shift = 0.0
        #: Where the current session started.
        self.begin = install
        #: The calendar ended the life before the period did.
        self.churned = False
        #: The last request's time.
        self.last_t = install

    def schedule(self, proposed: float) -> float | None:
        """Where the returning session the engine ``proposed`` starts, or None: the life is over."""
        t0 = proposed - self._shift  # where the engine would open it had the previous session not moved
        # The calendar draws the gap itself (its daily curve thins a Poisson process whose mean is
        # the journey's session gap), from the end of the last session plus the collector's session
        # timeout, so that a returning session never runs into the previous one.
        at = self._cal.next_session(self._rnd, self.off, self.last_t + self._timeout, self.until)
        if at is None:
            self.churned = self.life_end < self.end_utc
            return None
        self._shift, self.begin = at - t0, at
        self.open_day(at)
        return at

    def open_day(self, at: float) -> None:
        """The session opening at ``at`` is on a campaign day or not: a campaign's ads run only on its dates."""
        cal = self._cal
        day = min(max(int(at + cal.offset_at(self.off, at) - cal.start_naive) // 3600, 0), cal.hours - 1) // 24
        self._engine.set_campaign(cal.campaign_names[day], cal.campaign_share[day])


def csv_line(values: Iterable[Any]) -> bytes:
    return (",".join([_csv(v) for v in values]) + "\n").encode()


class _SharedDevices:
    """The population as the engine sees it, handing it the device dict the generator built already
    (materialising a device costs more than a few of its requests)."""

    def __init__(self, population: Population) -> None:
        self._population = population
        self._index = -1
        self._device: Any = None
        # Looked up once: the engine asks for these per device, and __getattr__ is a call each time.
        self.device_index = population.device_index
        self.user_uuid = population.user_uuid

    def fetch(self, i: int) -> Any:
        self._index, self._device = i, self._population.device(i)
        return self._device

    def device(self, i: int) -> Any:
        return self._device if i == self._index else self._population.device(i)

    def __len__(self) -> int:
        return len(self._population)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._population, name)


class Generator:
    def __init__(
        self,
        scenario: Scenario,
        *,
        config: TimeConfig,
        start: datetime.date,
        days: int,
        table_format: str,
        fragments: bool = True,
    ) -> None:
        """``fragments=False`` builds every body as the engine does for a load test (``JourneyEngine.send``,
        then orjson): slower, the same bytes; the reference the fragments are tested against."""
        self.scenario = scenario
        self.use_fragments = fragments
        # Devices as they were on the first simulated day: models, OS builds, WebViews that existed then.
        try:
            self.population = Population.build(
                config=scenario.population, app=scenario.app, seed=scenario.seed, on=start
            )
        except NoDevicesOn as e:  # a --start before the catalogue's first devices: the option's problem
            raise OptionError(str(e)) from None
        except ValueError as e:
            raise DatasetError(str(e)) from None
        self._devices = _SharedDevices(self.population)
        # _SharedDevices stands in for the Population: the engine asks it only for devices and people.
        self.engine = JourneyEngine(scenario=scenario, population=self._devices)  # type: ignore[arg-type]
        j = scenario.journey
        self.calendar = Calendar(config, start=start, days=days, mean_gap=max(j.session_gap.mean, 1.0))
        self.timeout = j.session_timeout
        # Each device's calendar draws come from its own stream (a function of the seed and the global
        # index, like the engine's), so a device's days do not depend on the devices played before it
        # and any block of devices can be played in any process (--jobs). Tagged above bit 64: apart
        # from every engine stream ((seed << 32) ^ index).
        self._calendar_tag = (_CALENDAR_STREAM << 64) | (scenario.seed << 32)
        self.jsonl_table = table_format == "jsonl"
        names = j.event_names
        step_of: dict[str, int] = {}
        purchase: set[str] = set()
        for st in j.states.values():
            if st.action in COMMERCE:
                name = st.event or names.get(st.action, "")
                step_of[name] = COMMERCE.index(st.action)
                if st.action == "purchase":
                    purchase.add(name)
        self.funnel_names = [names.get(a, a) for a in COMMERCE]
        self.funnel_present = sorted(set(step_of.values()))
        # An ordered funnel: a session reaches a step only after the step before it (of those the
        # journey has; the first after a healthy start), so "of previous" never passes 100%. Bit ->
        # the bit that must be set first.
        present = self.funnel_present
        self.funnel_need = {1 << k: (1 << present[i - 1]) if i else _STARTED for i, k in enumerate(present)}
        self.funnel_need[_STARTED] = 0
        self.step_of = step_of
        self.purchase_names = purchase
        self.stats = Stats(days)
        self._step_parts: dict[str, tuple[str, str, int, int, bool]] = {}
        self.frag = Fragments(
            self.engine,
            commerce=self._commerce,
            part=lambda node: self._step_parts.get(node.step) or self._step_part(node.step, "events", node.event),
        )
        self.step_counts: Counter[str] = Counter()
        self.faulty_counts: dict[str, int] = {}
        rates = dict(j.commerce.usd_rates)
        self.usd_rates = rates
        #: value_usd as CSV text per (value, currency): prices repeat, as in _FLOAT_TEXT.
        self._usd_text = _Memo(lambda key: _csv(usd_value(key[0], key[1], rates)))

    def device(self, i: int, out: list[Record], device_rows: IO[bytes]) -> None:
        """Play device ``i`` on the calendar; its records go to ``out``, its row to ``device_rows``.

        Four steps: place the device on the calendar (``_Life``: its zone, install, churn), play its
        requests into records (``_play``), count it, and write its row."""
        gi = self.population.device_index(i)
        if gi >= LIMITS["device"]:
            limit = LIMITS["device"]
            raise DatasetError(f"device {gi} is past the {limit:,} devices a dataset holds: generate fewer (--users)")
        dev = self._devices.fetch(i)
        tz = str(dev["info"].get("deviceTimeZone", "UTC"))
        life = _Life(self.calendar, self.engine, random.Random(self._calendar_tag | gi), tz, self.timeout)
        self.stats.devices += 1
        self.stats.daily_installs[self.calendar.day_of(life.off, life.install)] += 1
        played = self._play(i, gi, dev, life, out)
        self._count_device(life, played)
        device_rows.write(self._device_row(gi, dev, life, played))

    def _play(self, i: int, gi: int, dev: Any, life: _Life, out: list[Record]) -> _Played:
        """The device's requests inside the period, each as a record: (sort key, body line + table row).

        The engine decides each step (``JourneyEngine.walk``); the commonest ones (events, searches,
        product views, cart adds of a well-behaved SDK) are rendered here from cached fragments, the
        rest (session starts, identifies, checkouts, purchases, a faulty SDK's requests) are built by
        the engine as dicts (``JourneyEngine.send``) and serialised: the same bytes either way.

        Every request costs a few lines here, so what changes only with a session, an identify or a
        local day is recomputed only then: the fragments and row parts after each engine-built
        request (every change of ids, identify_by or utm comes with one), the day's counts when the
        local day changes, the counts per step from the list of steps at the end."""
        cal, stats, engine, frag = self.calendar, self.stats, self.engine, self.frag
        install, end_utc, off, tz = life.install, life.end_utc, life.off, life.tz
        start_naive, base_utc = cal.start_naive, cal.base_utc
        off_changes, off_values, bisect_right = off.changes, off.values, bisect.bisect_right
        jsonl = self.jsonl_table
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        key_base = gi << DEVICE_SHIFT
        seq = day_seq = 0
        session = -1
        campaign = tail = ""
        uid = sid = ""
        funnel = 0
        funnel_need = self.funnel_need
        active_days: set[int] = set()
        n_faulty = n_purchases = n_sessions = 0
        quote, prefix_of = _quote, hour_prefix
        mmss, mmss_local = MMSS_Z, _MMSS_LOCAL
        utc_hour = local_hour = rday = -1
        rday_text = ""
        utc_prefix = local_prefix = ""
        loff = 0
        last_uid: Any = None
        last_sid: Any = None
        last_utm: Any = _NOTHING
        who = utm_part = ""
        dev_part = f"{dev['platform']},{dev['country']},{quote(tz)}"
        daily_requests, faulty_counts = stats.daily_requests, self.faulty_counts
        step_parts = self._step_parts
        sent: list[str] = []  # each request's step, counted at the end
        # What a fast step's record takes from the session: body fragments and row parts.
        head = by_text = end_text = who_part = row_end = ""
        fixed = head_size = by_size = end_size = 0  # bytes of head + by + end
        f_sid: Any = None
        f_by: Any = None
        f_utm: Any = _NOTHING
        life.open_day(install)
        state, steps = engine.walk(i, start_time=install, schedule=life.schedule)
        fast = self.use_fragments and not state.faulty and not jsonl
        send = engine.send
        props: Any
        rendered: Props
        for node, x in steps:
            if node is not None and fast and node.action in _FAST_ACTIONS:
                req: Request | None = None
                action = node.action
                if action == "event":
                    rendered = frag.plain(node)
                elif action == "view_item":
                    rendered = frag.view(node, state.prices, engine.view_item(state, node))
                elif action == "search":
                    rendered = frag.search(node, engine.search(state, node))
                else:
                    rendered = frag.cart(node, state.prices, *engine.add_to_cart(state, node))
                named, text, size, step, part, props, _, commerce, value = rendered  # one unpack, not 8 loads
                faulty = False
                t = install + state.t
            else:
                req = x if node is None else send(state, node, x)
                if req is None:
                    continue  # nothing to send (an empty cart cannot check out)
                body = req.body
                # 1. A new session (the first at install, each returning one where the calendar put it).
                if req.session != session:
                    if n_sessions:
                        self._close_session(funnel)
                    funnel = 0
                    session = req.session
                    if session == 0:
                        life.begin = install + req.offset
                    campaign = self._open_session(off, life.begin)
                    tail = f"{ESCAPED[campaign]},"
                    last_uid = None
                    sid = ""  # until a body names it: a faulty start with no sid is no other session's
                    n_sessions += 1
                step = req.step
                faulty = req.faulty
                props = body.get("properties")  # a dict, or None
                value = props.get("value") if props else None
                part = step_parts.get(step) or self._step_part(step, req.endpoint, body.get("event_name", ""))
                # The row's columns that change with the ids (a faulty body without them still belongs to
                # the device's current ones) and with the utm.
                b_uid, b_sid = body.get("uid"), body.get("sid")
                if b_uid is not last_uid or b_sid is not last_sid:
                    last_uid, last_sid = b_uid, b_sid
                    uid = b_uid or uid
                    sid = b_sid or sid
                    who = f"{gi},{quote(uid)},{quote(sid)},{session + 1},{dev_part}"
                utm = body.get("utm_params")
                if utm is not last_utm:
                    last_utm = utm
                    utm_part = _utm_columns(utm)
                t = install + req.offset
            if t >= end_utc:
                break
            # 2. The two clocks, inline (a call per request costs more than the rest of the row): the
            # hour's prefixes, and the zone's offset, change rarely.
            sec = int(t)
            hr = sec // 3600
            if hr != utc_hour:
                utc_hour = hr
                utc_prefix = prefix_of(hr)
                loff = off_values[bisect_right(off_changes, (sec - base_utc) // 3600)]
            lsec = sec + loff
            lh = lsec // 3600
            if lh != local_hour:
                local_hour = lh
                local_prefix = prefix_of(lh)
                day = (lh * 3600 - start_naive) // 86400  # local midnights are on the hour
                if day != rday:
                    if seq > day_seq:
                        daily_requests[rday] += seq - day_seq
                        active_days.add(rday)
                    rday, day_seq = day, seq
                    rday_text = str(rday + 1)
            wall = local_prefix + mmss_local[lsec - lh * 3600]
            life.last_t = t  # the calendar opens the next session after it
            # 3. The record: the body and the row, its key sorting by time, device, sequence (runs.sort_key).
            row_part, event_name, ep_i, funnel_bit, purchase = part
            if req is None:
                # x is this step's added_at (the row's time column too).
                data = (
                    f"{head}{named}{x}{by_text}{text}{end_text}"
                    f"{x},{wall},{rday_text},{row_part}{who_part}{commerce}{row_end}"
                ).encode()
                n = fixed + size + len(x)
            else:
                when = utc_prefix + mmss[sec - hr * 3600]
                if jsonl:
                    row = self._json_row(
                        when, wall, rday, req.endpoint, step, event_name, gi, uid, sid, session,
                        dev["platform"], dev["country"], tz, props, body.get("products"), utm,
                        1 if body.get("identify_by") else 0, campaign, faulty, req.fault,
                    )  # fmt: skip
                else:
                    commerce = (
                        ",,,,0,"
                        if value is None
                        else _commerce_columns(props, body.get("products"), faulty, self._usd_text)
                    )
                    row = (
                        f"{when},{wall},{rday_text},{row_part},{who},{commerce},{utm_part},"
                        f"{1 if body.get('identify_by') else 0},{tail}" + (f"1,{req.fault}\n" if faulty else "0,\n")
                    ).encode()
                data = dumps(body, option=newline)
                n = len(data)
                data += row
                # What the fast steps that follow take from the session: the ids (with them the session's
                # number and campaign), identify_by, utm; each rebuilt only when it changed (a new session
                # changes the ids, seldom identify_by or utm).
                if state.sid is not f_sid or state.by is not f_by or state.utm is not f_utm:
                    if state.sid is not f_sid:  # a new session (a reinstall's new uid comes with one)
                        f_sid = state.sid
                        head, head_size = frag.head(state.uid, f_sid)
                        who_part = f",{gi},{quote(state.uid)},{quote(f_sid)},{session + 1},{dev_part},"
                    if state.by is not f_by:
                        f_by = state.by
                        by_text, by_size = frag.by(f_by)
                    if state.utm is not f_utm:
                        f_utm = state.utm
                        end_text, end_size = frag.end(f_utm)
                    fixed = head_size + by_size + end_size
                    row_end = f",{_utm_columns(state.utm or None)},{1 if state.by else 0},{tail}0,\n"
            if n > LEN_MASK:
                raise DatasetError(
                    f"device {gi} step {step}: a body of {n:,} bytes, past the 1 MiB a record holds "
                    "(a scenario's properties that large? else a bug in loadsim: please report it with the scenario)"
                )
            out.append(((int(t * 1000) << TIME_SHIFT) | key_base | seq << SEQ_SHIFT | n << LEN_SHIFT | ep_i, data))
            seq += 1
            sent.append(step)
            # 4. Counts: the funnel and purchases; requests by day and step at the day's and life's end.
            if faulty:
                n_faulty += 1
                faulty_counts[step] = faulty_counts.get(step, 0) + 1
                continue
            if funnel_bit and funnel & funnel_need[funnel_bit] == funnel_need[funnel_bit]:
                funnel |= funnel_bit
            if purchase and value is not None and self._count_purchase(rday, props, value):
                n_purchases += 1
        if seq > day_seq:
            daily_requests[rday] += seq - day_seq
            active_days.add(rday)
        self.step_counts.update(sent)  # counted in C, into the run's counts
        if n_sessions:
            self._close_session(funnel)
        engine.scale_conversion(1.0)
        engine.set_campaign("", 0.0)
        if seq > LIMITS["sequence"]:
            raise DatasetError(
                f"device {gi} sent {seq:,} requests, past the {LIMITS['sequence']:,} a device's sort keys hold: "
                "fewer --days, or fewer sessions or steps in the scenario's [journey]"
            )
        return _Played(seq, n_faulty, n_purchases, n_sessions, active_days)

    def _commerce(self, props: dict[str, Any], products: list[dict[str, Any]] | None) -> str:
        """The table's ``value`` .. ``coupon`` columns of a well-behaved SDK's event."""
        if props.get("value") is None:
            return ",,,,0,"
        return _commerce_columns(props, products, False, self._usd_text)

    def _open_session(self, off: Offsets, begin: float) -> str:
        """A session opened at ``begin``: counted on its local day and hour, its day's conversion set;
        the campaign of that day ("" for none)."""
        cal, stats = self.calendar, self.stats
        h = int(begin + cal.offset_at(off, begin) - cal.start_naive) // 3600
        day = min(max(h, 0), cal.hours - 1) // 24
        self.engine.scale_conversion(cal.conversion[day])
        stats.sessions += 1
        stats.daily_sessions[day] += 1
        stats.local_hour_starts[h % 24] += 1
        return cal.campaign_names[day]

    def _count_purchase(self, day: int, props: dict[str, Any], value: Any) -> bool:
        """A purchase's revenue, summed exactly; False (not counted) without a currency."""
        currency = props.get("currency")
        if currency is None:
            return False
        stats = self.stats
        stats.daily_purchases[day] += 1
        acc = stats.revenue.setdefault(str(currency), [0, Fraction(0)])
        acc[0] += 1
        acc[1] += Fraction(float(value))
        return True

    def _count_device(self, life: _Life, played: _Played) -> None:
        stats = self.stats
        stats.faulty_requests += played.faulty
        stats.churned += life.churned
        if played.requests:
            stats.active_devices += 1
        if played.faulty:
            stats.faulty_devices += 1
        for d in played.active_days:
            stats.daily_active[d] += 1

    def _device_row(self, gi: int, dev: Any, life: _Life, played: _Played) -> bytes:
        """The device's line of devices.csv. Every text column comes from the catalogue's small
        vocabularies: escaped once each, cached."""
        esc, info, cal = ESCAPED, dev["info"], self.calendar
        install_local = life.install + cal.offset_at(life.off, life.install)
        return (
            f"{gi},{dev['platform']},{dev['country']},{esc[dev['currency']]},{esc[life.tz]},"
            f"{esc[info.get('locale')]},{esc[info.get('deviceModelName')]},"
            f"{esc[info.get('osVersion')]},{esc[info.get('app_version_name')]},{esc[info.get('carrier')]},"
            f"{iso_utc(life.install)},{int(install_local - cal.start_naive) // 86400 + 1},{iso_utc(life.last_t)},"
            f"{played.sessions},{played.requests},{played.faulty},{played.purchases},{esc[info.get('user_agent')]}\n"
        ).encode()

    def _step_part(self, step: str, endpoint: str, name: str) -> tuple[str, str, int, int, bool]:
        """What a step puts in every row and count: the row's endpoint, step and event name columns,
        the event name, the endpoint's file, the funnel bit and whether it is a purchase."""
        k = self.step_of.get(name)
        part = self._step_parts[step] = (
            f"{endpoint},{ESCAPED[step]},{ESCAPED[name]}",
            name,
            _EP_INDEX[endpoint],
            _STARTED if endpoint == "externalIds" else 0 if k is None else 1 << k,
            name in self.purchase_names,
        )
        return part

    def finish(self) -> None:
        """Requests per endpoint and events per name, from the counts per step."""
        s = self.stats
        s.requests = dict.fromkeys(ENDPOINT_NAMES, 0)
        s.events_by_name = {}
        for step, n in self.step_counts.items():
            _, name, ep, _, _ = self._step_parts[step]
            s.requests[ENDPOINT_NAMES[ep]] += n
            healthy = n - self.faulty_counts.get(step, 0)
            if name and healthy:
                s.events_by_name[name] = s.events_by_name.get(name, 0) + healthy

    def _json_row(
        self,
        when: str,
        wall: str,
        day: int,
        endpoint: str,
        step: str,
        event_name: str,
        gi: int,
        uid: str,
        sid: str,
        session: int,
        platform: str,
        country: str,
        tz: str,
        props: Any,
        products: list[dict[str, Any]] | None,
        utm: dict[str, Any] | None,
        identified: int,
        campaign: str,
        faulty: bool,
        fault: str | None,
    ) -> bytes:
        props = props or {}
        utm = utm or {}
        return orjson.dumps(
            dict(
                zip(
                    TABLE_COLUMNS,
                    (
                        when,
                        wall,
                        day + 1,
                        endpoint,
                        step,
                        event_name,
                        gi,
                        uid,
                        sid,
                        session + 1,
                        platform,
                        country,
                        tz,
                        props.get("value"),
                        props.get("currency"),
                        usd_value(props.get("value"), props.get("currency"), self.usd_rates),
                        props.get("transaction_id"),
                        _items(products, faulty),
                        props.get("coupon"),
                        utm.get("utm_source"),
                        utm.get("utm_medium"),
                        utm.get("utm_campaign"),
                        bool(identified),
                        campaign or None,
                        faulty,
                        fault,
                    ),
                    strict=True,
                )
            ),
            option=orjson.OPT_APPEND_NEWLINE,
        )

    def _close_session(self, funnel: int) -> None:
        stats = self.stats
        stats.accepted_sessions += funnel >= _STARTED
        f = stats.funnel
        for k in _FUNNEL_STEPS[funnel]:
            f[k] += 1
