"""A device played on the calendar: each request as a sort key, its body line and its table row."""

from __future__ import annotations

import datetime
import math
import operator
import random
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import IO, Any

import orjson

from simulator.dataset.calendar import Calendar
from simulator.dataset.layout import ENDPOINTS, TABLE_COLUMNS
from simulator.dataset.runs import LEN_BITS, Record
from simulator.dataset.stats import COMMERCE, Stats
from simulator.journey import JourneyEngine, Request
from simulator.payloads import iso_utc
from simulator.population import Population
from simulator.scenario import Scenario, TimeConfig

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
_MMSS = [f"{m:02d}:{s:02d}Z" for m in range(60) for s in range(60)]
_MMSS_LOCAL = [x[:-1] for x in _MMSS]
_NOTHING = object()
_EP_INDEX = {ep: k for k, ep in enumerate(ENDPOINTS)}
_QUANTITY = operator.itemgetter("product_quantity")


def csv_line(values: Iterable[Any]) -> bytes:
    return (",".join([_csv(v) for v in values]) + "\n").encode()


class _SharedDevices:
    """The population as the engine sees it, handing it the device dict the generator built already
    (materialising a device costs more than a few of its requests)."""

    def __init__(self, population: Population) -> None:
        self._population = population
        self._index = -1
        self._device: Any = None

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
        self, scenario: Scenario, *, config: TimeConfig, start: datetime.date, days: int, table_format: str
    ) -> None:
        self.scenario = scenario
        self.population = Population.build(config=scenario.population, app=scenario.app, seed=scenario.seed)
        self._devices = _SharedDevices(self.population)
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
        # journey has), so "of previous" never passes 100%. Bit -> the bit that must be set first.
        present = self.funnel_present
        self.funnel_need = {1 << k: (1 << present[i - 1]) if i else 0 for i, k in enumerate(present)}
        self.step_of = step_of
        self.purchase_names = purchase
        self.stats = Stats(days)
        self._step_parts: dict[str, tuple[str, str, int, int, bool]] = {}
        self.step_counts: dict[str, int] = {}
        self.faulty_counts: dict[str, int] = {}

    def device(self, i: int, out: list[Record], device_rows: IO[bytes]) -> None:
        """Play device ``i`` on the calendar; its records go to ``out``, its row to ``device_rows``."""
        cal, stats = self.calendar, self.stats
        pop = self.population
        engine = self.engine
        gi = pop.device_index(i)
        rnd = random.Random(self._calendar_tag | gi)
        dev = self._devices.fetch(i)
        info = dev["info"]
        tz = str(info.get("deviceTimeZone", "UTC"))
        off = cal.offsets(tz)
        install = cal.install(rnd, off)
        life_end = install + (
            rnd.expovariate(cal.churn_rate)
            if 0 < cal.churn_rate < math.inf
            else (math.inf if cal.churn_rate == 0 else 0.0)
        )
        end_utc = cal.to_utc(off, cal.end_naive)
        until = min(life_end, end_utc)
        platform, country = dev["platform"], dev["country"]
        start_naive, hours = cal.start_naive, cal.hours
        timeout = self.timeout
        next_session = cal.next_session
        # The calendar places each returning session (the engine asks, see JourneyEngine.device_life):
        # ``shift`` is how far the current session moved from where the engine would have put it.
        shift = 0.0
        begin = install
        churned = False
        last_t = install  # the last request's time

        def schedule(proposed: float) -> float | None:
            nonlocal shift, begin, churned
            t0 = proposed - shift  # where the engine would open it had the previous session not moved
            # The calendar draws the gap itself (its daily curve thins a Poisson process whose mean
            # is the journey's session gap), from the end of the last session plus the collector's
            # session timeout, so that a returning session never runs into the previous one.
            at = next_session(rnd, off, last_t + timeout, until)
            if at is None:
                churned = life_end < end_utc
                return None
            shift, begin = at - t0, at
            return at

        jsonl = self.jsonl_table
        dumps = orjson.dumps
        newline = orjson.OPT_APPEND_NEWLINE
        key_base = gi << 20
        seq = 0
        session = -1
        campaign = ""
        uid = sid = ""
        funnel = 0
        funnel_need = self.funnel_need
        active_days: set[int] = set()
        n_requests = n_faulty = n_purchases = n_sessions = 0
        day = 0
        esc, quote, iso, floats = ESCAPED, _quote, iso_utc, _FLOAT_TEXT
        stats.devices += 1
        stats.daily_installs[
            max(0, min(hours - 1, int(install + cal.offset_at(off, install) - start_naive) // 3600)) // 24
        ] += 1
        base_utc = cal.base_utc
        step_parts = self._step_parts
        mmss, mmss_local = _MMSS, _MMSS_LOCAL
        utc_hour = local_hour = rday = -1
        rday_text = ""
        utc_prefix = local_prefix = ""
        loff = 0
        last_uid: Any = None
        last_sid: Any = None
        last_utm: Any = _NOTHING
        who = utm_part = tail = ""
        dev_part = f"{platform},{country},{quote(tz)}"
        step_counts, faulty_counts = self.step_counts, self.faulty_counts
        daily_requests = stats.daily_requests
        for req in engine.device_life(i, start_time=install, schedule=schedule):
            body = req.body
            if req.session != session:
                # A new session (the first at install, each returning one where the calendar put it).
                if n_sessions:
                    self._close_session(funnel)
                funnel = 0
                session = req.session
                if session == 0:
                    begin = install + req.offset
                h = int(begin + cal.offset_at(off, begin) - start_naive) // 3600
                day = min(max(h, 0), hours - 1) // 24
                campaign = cal.campaign_names[day]
                tail = f"{esc[campaign]},"
                engine.scale_conversion(cal.conversion[day])
                last_uid = None
                n_sessions += 1
                stats.sessions += 1
                stats.daily_sessions[day] += 1
                stats.local_hour_starts[h % 24] += 1
            t = install + req.offset
            if t >= end_utc:
                break
            # Timestamps inline (a call per request costs more than the rest of the row): the hour's
            # prefixes change rarely. Within the period, so inside the offsets table: no clamping.
            sec = int(t)
            hr = sec // 3600
            if hr != utc_hour:
                utc_hour = hr
                utc_prefix = iso(hr * 3600)[:14]
                loff = off[(sec - base_utc) // 3600]
            when = utc_prefix + mmss[sec - hr * 3600]
            lsec = sec + loff
            lh = lsec // 3600
            if lh != local_hour:
                local_hour = lh
                local_prefix = iso(lh * 3600)[:14]
                rday = (lh * 3600 - start_naive) // 86400  # local midnights are on the hour
                rday_text = str(rday + 1)
            wall = local_prefix + mmss_local[lsec - lh * 3600]
            last_t = t
            faulty = req.faulty
            b_uid, b_sid = body.get("uid"), body.get("sid")
            if b_uid is not last_uid or b_sid is not last_sid:
                last_uid, last_sid = b_uid, b_sid
                uid = b_uid or uid  # a faulty body without one still belongs to the device's current ids
                sid = b_sid or sid
                who = f"{gi},{quote(uid)},{quote(sid)},{session + 1},{dev_part}"
            step = req.step
            part = step_parts.get(step)
            if part is None:
                part = self._step_part(req)
            row_part, event_name, ep_i, funnel_bit, purchase = part
            props = body.get("properties")
            value = props.get("value") if props else None
            if value is None:
                currency = None
                commerce = ",,,0,"
            else:
                currency = props.get("currency")  # type: ignore[union-attr]
                products = body.get("products")
                items = (len(products) if faulty else sum(map(_QUANTITY, products))) if products else 0
                text = floats[value] if value.__class__ is float else value
                commerce = (
                    f"{text},{esc[currency]},{esc[props.get('transaction_id')]},{items},"  # type: ignore[union-attr]
                    f"{esc[props.get('coupon')]}"
                )  # type: ignore[union-attr]
            utm = body.get("utm_params")
            if utm is not last_utm:
                last_utm = utm
                utm_part = (
                    (f"{esc[utm.get('utm_source')]},{esc[utm.get('utm_medium')]},{esc[utm.get('utm_campaign')]}")
                    if utm
                    else ",,"
                )
            if jsonl:
                line = self._json_row(
                    when,
                    wall,
                    rday,
                    req,
                    event_name,
                    gi,
                    uid,
                    sid,
                    session,
                    platform,
                    country,
                    tz,
                    props,
                    body,
                    campaign,
                )
            else:
                line = (
                    f"{when},{wall},{rday_text},{row_part},{who},{commerce},{utm_part},"
                    f"{1 if body.get('identify_by') else 0},{tail}" + (f"1,{req.fault}\n" if faulty else "0,\n")
                ).encode()
            data = dumps(body, option=newline)
            out.append(
                ((((int(t * 1000) << 48) | key_base | seq) << (LEN_BITS + 2)) | len(data) << 2 | ep_i, data + line)
            )
            seq += 1
            # Requests and events are counted per step (one dict update), named at the end (finish).
            step_counts[step] = step_counts.get(step, 0) + 1
            daily_requests[rday] += 1
            active_days.add(rday)
            if faulty:
                n_faulty += 1
                faulty_counts[step] = faulty_counts.get(step, 0) + 1
                continue
            if funnel_bit and funnel & funnel_need[funnel_bit] == funnel_need[funnel_bit]:
                funnel |= funnel_bit
            if purchase and currency is not None:
                n_purchases += 1
                stats.daily_purchases[rday] += 1
                acc = stats.revenue.setdefault(str(currency), [0, Fraction(0)])
                acc[0] += 1
                acc[1] += Fraction(float(value))  # type: ignore[arg-type]
        if n_sessions:
            self._close_session(funnel)
        engine.scale_conversion(1.0)
        n_requests = seq
        stats.faulty_requests += n_faulty
        stats.churned += churned
        if n_requests:
            stats.active_devices += 1
        if n_faulty:
            stats.faulty_devices += 1
        for d in active_days:
            stats.daily_active[d] += 1
        install_local = install + cal.offset_at(off, install)
        # Every text column comes from the catalogue's small vocabularies: escaped once each, cached.
        device_rows.write(
            (
                f"{gi},{platform},{country},{esc[dev['currency']]},{esc[tz]},{esc[info.get('locale')]},{esc[info.get('deviceModelName')]},"
                f"{esc[info.get('osVersion')]},{esc[info.get('app_version_name')]},{esc[info.get('carrier')]},"
                f"{iso_utc(install)},{int(install_local - start_naive) // 86400 + 1},{iso_utc(last_t)},"
                f"{n_sessions},{n_requests},{n_faulty},{n_purchases},{esc[info.get('user_agent')]}\n"
            ).encode()
        )

    def _step_part(self, req: Request) -> tuple[str, str, int, int, bool]:
        """What a step puts in every row and count: the row's endpoint, step and event name columns,
        the event name, the endpoint's file, the funnel bit and whether it is a purchase."""
        name = req.body.get("event_name", "")
        k = self.step_of.get(name)
        part = self._step_parts[req.step] = (
            f"{req.endpoint},{ESCAPED[req.step]},{ESCAPED[name]}",
            name,
            _EP_INDEX[req.endpoint],
            0 if k is None else 1 << k,
            name in self.purchase_names,
        )
        return part

    def finish(self) -> None:
        """Requests per endpoint and events per name, from the counts per step."""
        s = self.stats
        s.requests = dict.fromkeys(ENDPOINTS, 0)
        s.events_by_name = {}
        for step, n in self.step_counts.items():
            _, name, ep, _, _ = self._step_parts[step]
            s.requests[ENDPOINTS[ep]] += n
            healthy = n - self.faulty_counts.get(step, 0)
            if name and healthy:
                s.events_by_name[name] = s.events_by_name.get(name, 0) + healthy

    @staticmethod
    def _json_row(
        when: str,
        wall: str,
        day: int,
        req: Request,
        event_name: str,
        gi: int,
        uid: str,
        sid: str,
        session: int,
        platform: str,
        country: str,
        tz: str,
        props: Any,
        body: dict[str, Any],
        campaign: str,
    ) -> bytes:
        props = props or {}
        products = body.get("products")
        items = (
            (len(products) if req.faulty else sum(p.get("product_quantity", 1) for p in products)) if products else 0
        )
        utm = body.get("utm_params") or {}
        return orjson.dumps(
            dict(
                zip(
                    TABLE_COLUMNS,
                    (
                        when,
                        wall,
                        day + 1,
                        req.endpoint,
                        req.step,
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
                        props.get("transaction_id"),
                        items,
                        props.get("coupon"),
                        utm.get("utm_source"),
                        utm.get("utm_medium"),
                        utm.get("utm_campaign"),
                        bool(body.get("identify_by")),
                        campaign or None,
                        req.faulty,
                        req.fault,
                    ),
                    strict=True,
                )
            ),
            option=orjson.OPT_APPEND_NEWLINE,
        )

    def _close_session(self, funnel: int) -> None:
        f = self.stats.funnel
        for k in range(len(COMMERCE)):
            if funnel >> k & 1:
                f[k] += 1
