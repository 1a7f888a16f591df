"""``loadsim generate``: a scenario's population over days of simulated time, written to disk for demos.

The journey engine plays each device's life (sessions, identify, purchases); this module puts it
on a calendar (``[time]`` of the scenario, ``simulator.scenario.TimeConfig``):

- a device installs on a day drawn with the install growth (and campaign installs), at a local
  hour drawn from the daily curve, in its own time zone (``info.deviceTimeZone``, zoneinfo);
- its returning sessions arrive as a non-homogeneous Poisson process whose rate is the journey's
  mean ``session_gap`` shaped by the daily and weekly curves in local time and multiplied on
  campaign days (drawn by thinning); it stops returning when it churns or the period ends;
- sessions started on a campaign day convert more (``JourneyEngine.scale_conversion``).

The engine asks the calendar where each returning session starts (``JourneyEngine.device_life``'s
``schedule``) and keeps the session's inner timing from there, so bodies come out with their final
``added_at`` and GA session id, and a life stops being played where the calendar ends it.

Output (``DIR``): ``requests/<endpoint>.jsonl`` with the exact bodies in ``added_at`` order,
``events.csv`` (or ``.parquet``, ``.jsonl``) with one flat row per request, ``devices.csv``,
``summary.json`` and ``README.md``. Memory stays flat: requests are gathered in bounded chunks,
each sorted and spilled as a run, and the runs are k-way merged block by block into the files.
Everything comes from the scenario seed: the same scenario and seed give byte-identical files.

``jobs`` (``--jobs N``) plays contiguous blocks of devices in N worker processes: each device's
calendar and journey draw from streams of their own (seed, global device index), every record's
sort key is global, and the statistics add up exactly (``_Stats.merge``), so the files are the
same bytes for any N. The parent merges the workers' sorted runs and writes every output file.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
import gzip
import io
import math
import multiprocessing
import multiprocessing.connection
import operator
import os
import pickle
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from simulator import contract
from simulator.journey import JourneyEngine, Request
from simulator.payloads import CONTENT_TYPE, iso_utc
from simulator.population import Population
from simulator.scenario import Scenario, TimeConfig, load_scenario

__all__ = [
    "DEVICE_COLUMNS",
    "ENDPOINTS",
    "FORMATS",
    "TABLE_COLUMNS",
    "DatasetError",
    "DatasetRecord",
    "generate",
    "read_dataset",
    "read_summary",
]

FORMAT_VERSION = 1
ENDPOINTS = contract.ENDPOINT_NAMES
#: ``--format``: how the flat events table is written (the request files are always JSONL).
FORMATS: tuple[str, ...] = ("csv", "parquet", "jsonl")
#: The events table: one row per request, in ``added_at`` order.
TABLE_COLUMNS: tuple[str, ...] = (
    "time",
    "local_time",
    "day",
    "endpoint",
    "step",
    "event_name",
    "device",
    "user_id",
    "session_id",
    "session_number",
    "platform",
    "country",
    "timezone",
    "value",
    "currency",
    "transaction_id",
    "items",
    "coupon",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "identified",
    "campaign",
    "faulty",
    "fault",
)
_INT_COLUMNS = frozenset({"day", "device", "session_number", "items"})
_BOOL_COLUMNS = frozenset({"identified", "faulty"})
DEVICE_COLUMNS: tuple[str, ...] = (
    "device",
    "platform",
    "country",
    "currency",
    "timezone",
    "locale",
    "model",
    "os_version",
    "app_version",
    "carrier",
    "install_time",
    "install_day",
    "last_seen",
    "sessions",
    "requests",
    "faulty_requests",
    "purchases",
    "user_agent",
)
#: Records gathered before a chunk is sorted and spilled (bounds memory: about 1 KB each).
CHUNK_RECORDS = 40_000
#: Runs merged at once; more are first merged in groups (memory flat however many devices).
MAX_FAN_IN = 32
_BLOCK = 256
_COMMERCE = ("view_item", "add_to_cart", "begin_checkout", "purchase")
_CALENDAR_STREAM = 0x7105_DA7A


class DatasetError(Exception):
    """A dataset cannot be generated or read; the message says what to do."""


# --- the calendar ---------------------------------------------------------------------------------


def _normalised(xs: Iterable[float]) -> list[float]:
    xs = list(xs)
    mean = sum(xs) / len(xs)
    return [x / mean for x in xs]


class _Calendar:
    """Simulated days in local time: curves, campaign days, and UTC offsets per time zone by the hour."""

    def __init__(self, config: TimeConfig, *, start: datetime.date, days: int, mean_gap: float) -> None:
        self.days = days
        self.hours = days * 24
        self.start = start
        #: Local midnight of day 1 as if it were UTC: "local naive" seconds.
        self.start_naive = int(datetime.datetime(start.year, start.month, start.day, tzinfo=datetime.UTC).timestamp())
        self.end_naive = self.start_naive + self.hours * 3600
        daily = _normalised(config.daily)
        weekly = _normalised(config.weekly)
        campaigns = {c.day - 1: c for c in config.campaigns if c.day <= days}
        self.campaign_names = [campaigns[d].name if d in campaigns else "" for d in range(days)]
        self.conversion = [campaigns[d].conversion if d in campaigns else 1.0 for d in range(days)]
        self.dates = [(start + datetime.timedelta(days=d)).isoformat() for d in range(days)]
        weekday = [(start + datetime.timedelta(days=d)).weekday() for d in range(days)]
        # Session-start intensity per local hour of the period (shape only; mean 1 over a week).
        self.shape = [
            daily[h % 24] * weekly[weekday[h // 24]] * (campaigns[h // 24].sessions if h // 24 in campaigns else 1.0)
            for h in range(self.hours)
        ]
        self.shape_max = max(self.shape) or 1.0
        self.rate_max = self.shape_max / mean_gap  # returning sessions per second at the busiest hour
        growth = 1.0 + config.install_growth
        acc = 0.0
        self.install_cum: list[float] = []
        for d in range(days):
            acc += growth**d * weekly[weekday[d]] * (campaigns[d].installs if d in campaigns else 1.0)
            self.install_cum.append(acc)
        acc = 0.0
        self.hour_cum: list[float] = []
        for x in daily:
            acc += x
            self.hour_cum.append(acc)
        # UTC offsets of each zone for every UTC hour the period can touch (UTC+14 .. UTC-12).
        self.base_utc = self.start_naive - 15 * 3600
        self.n_hours = self.hours + 30
        self._offsets: dict[str, list[int]] = {}
        self.churn_rate = -math.log(1.0 - config.churn) / 86400.0 if config.churn < 1.0 else math.inf

    def offsets(self, tz: str) -> list[int]:
        """Seconds to add to UTC for local time in ``tz``, per UTC hour from ``base_utc`` (DST exact)."""
        off = self._offsets.get(tz)
        if off is None:
            try:
                zone: datetime.tzinfo = ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError):
                zone = datetime.UTC  # an unknown zone (a catalogue typo) lives on UTC rather than fail
            off = []
            for k in range(self.n_hours):
                moment = datetime.datetime.fromtimestamp(self.base_utc + k * 3600, tz=zone)
                off.append(int(moment.utcoffset().total_seconds()))  # type: ignore[union-attr]
            self._offsets[tz] = off
        return off

    def offset_at(self, off: list[int], t: float) -> int:
        k = int(t - self.base_utc) // 3600
        return off[0 if k < 0 else (k if k < self.n_hours else self.n_hours - 1)]

    def to_utc(self, off: list[int], local: float) -> float:
        guess = local - self.offset_at(off, local)
        return local - self.offset_at(off, guess)

    def install(self, rnd: random.Random, off: list[int]) -> float:
        """An install time: the day by growth, the local hour by the daily curve."""
        day = bisect.bisect_right(self.install_cum, rnd.random() * self.install_cum[-1])
        hour = bisect.bisect_right(self.hour_cum, rnd.random() * self.hour_cum[-1])
        local = self.start_naive + min(day, self.days - 1) * 86400 + (min(hour, 23) + rnd.random()) * 3600
        return self.to_utc(off, local)

    def next_session(self, rnd: random.Random, off: list[int], after: float, until: float) -> float | None:
        """The first returning-session start after ``after`` (thinning), or None if none before ``until``."""
        t = after
        shape, start, rate_max, smax = self.shape, self.start_naive, self.rate_max, self.shape_max
        hours = self.hours
        expovariate, random_ = rnd.expovariate, rnd.random
        while True:
            t += expovariate(rate_max)
            if t >= until:
                return None
            h = int(t + self.offset_at(off, t) - start) // 3600
            if h >= hours:
                return None
            if h >= 0 and random_() * smax < shape[h]:
                return t


# --- sorted runs and their merge ------------------------------------------------------------------

#: (key, body line + table row line). The key sorts by time in ms, device, the device's sequence
#: number; its low bits say where the body ends and which endpoint it is for (``_key``/``_split``).
#: One exact-size bytes per record: keeping orjson's output itself costs 2-3x the dumps, because
#: each is over-allocated then shrunk and the heap fragments (measured: 3.7 -> 1.5 us a record).
Record = tuple[int, bytes]
_LEN_BITS = 20  # a body is under 1 MiB
_LEN_MASK = (1 << _LEN_BITS) - 1


class _Runs:
    """Chunks of records, each sorted and spilled to a temporary file; merged back in order.

    Everything moves in blocks (lists of records, in order): the merge sorts what several runs'
    current blocks can give out at once, which list.sort does in C as a merge of sorted runs, rather
    than a Python heap step per record (``heapq.merge``: 4x the cost)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.files: list[Path] = []
        self.buffer: list[Record] = []
        self._made = 0

    def spill(self) -> None:
        if not self.buffer:
            return
        self.buffer.sort()
        self.files.append(self._write([self.buffer]))
        self.buffer = []

    def _write(self, blocks: Iterable[list[Record]]) -> Path:
        self._made += 1
        path = self.tmp / f"run-{self._made:06d}.pickle"
        with path.open("wb") as f:
            for block in blocks:
                for k in range(0, len(block), _BLOCK):
                    pickle.dump(block[k : k + _BLOCK], f, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    @staticmethod
    def _read(path: Path) -> Iterator[list[Record]]:
        with path.open("rb", buffering=1 << 16) as f:
            load = pickle.load
            while True:
                try:
                    yield load(f)
                except EOFError:
                    return

    def merged(self) -> Iterator[list[Record]]:
        """All records in key order, as consecutive blocks."""
        if not self.files:
            self.buffer.sort()
            return iter([self.buffer])
        self.spill()
        files = self.files
        while len(files) > MAX_FAN_IN:  # merge in groups first: fan-in (and memory) stays bounded
            group, files = files[:MAX_FAN_IN], files[MAX_FAN_IN:]
            files.append(self._write(_merge_blocks([self._read(p) for p in group])))
            for p in group:
                p.unlink()
        return _merge_blocks([self._read(p) for p in files])


def _merge_blocks(runs: list[Iterator[list[Record]]]) -> Iterator[list[Record]]:
    """k-way merge of sorted runs given block by block (keys unique): each round gives out every
    record up to the smallest last key among the runs' current blocks, sorted together."""
    heads: list[list[Any]] = []  # [block, position, run]
    for run in runs:
        block = next(run, None)
        if block:
            heads.append([block, 0, run])
    first = operator.itemgetter(0)
    while heads:
        mark = min(h[0][-1][0] for h in heads)
        out: list[Record] = []
        for h in heads:
            block, pos = h[0], h[1]
            end = bisect.bisect_right(block, mark, pos, key=first)
            out += block[pos:end] if pos or end < len(block) else block
            if end < len(block):
                h[1] = end
            else:  # the block is spent (the one holding the mark always is): the run's next
                nxt = next(h[2], None)
                h[0], h[1] = (nxt, 0) if nxt else (None, 0)
        heads = [h for h in heads if h[0] is not None]
        out.sort()
        yield out


# --- output helpers -------------------------------------------------------------------------------


class _GzipOut(gzip.GzipFile):
    """A gzip file that also closes the file under it (``GzipFile(fileobj=...)`` leaves it open)."""

    def close(self) -> None:
        raw = self.fileobj
        try:
            super().close()
        finally:
            if raw is not None:
                raw.close()


def _open_out(path: Path, gz: bool) -> IO[bytes]:
    raw = path.open("wb")
    if not gz:
        return raw
    # No file name and mtime 0 in the header: the same dataset gives the same bytes.
    return _GzipOut(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)  # type: ignore[return-value]


def _open_in(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")  # type: ignore[return-value]


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
_ESCAPED = _Memo(_csv)
#: Money values as text (prices and totals repeat; a float's repr is slow). Floats only: 5 and
#: 5.0 are one dict key but two texts.
_FLOAT_TEXT = _Memo(repr)
_MMSS = [f"{m:02d}:{s:02d}Z" for m in range(60) for s in range(60)]
_MMSS_LOCAL = [x[:-1] for x in _MMSS]
_NOTHING = object()
_EP_INDEX = {ep: k for k, ep in enumerate(ENDPOINTS)}
_QUANTITY = operator.itemgetter("product_quantity")


def _csv_line(values: Iterable[Any]) -> bytes:
    return (",".join([_csv(v) for v in values]) + "\n").encode()


class _Progress:
    """A progress line on stderr when it is a terminal, a few updates a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = 0.0
        self._label = ""
        self._total = 0

    def phase(self, label: str, total: int) -> None:
        self._label, self._total, self._last = label, total, 0.0
        self.update(0)

    def update(self, done: int, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        total = max(self._total, 1)
        width = 30
        filled = int(width * min(done, total) / total)
        sys.stderr.write(f"\r{self._label:<9} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{self._total:,}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            self.update(self._total, force=True)
            sys.stderr.write("\n")


# --- generation -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Stats:
    """What summary.json reports, gathered device by device (memory: days and event names only).

    Every figure merges exactly (``merge``): with ``--jobs`` each process gathers its block of
    devices and the parent adds the blocks up, to the same numbers one process gets. Revenue is
    summed as exact fractions (each float value is one exactly), so the total does not depend on
    the order of the additions, hence not on how devices were split."""

    days: int
    devices: int = 0
    active_devices: int = 0
    faulty_devices: int = 0
    churned: int = 0
    sessions: int = 0
    requests: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(ENDPOINTS, 0))
    faulty_requests: int = 0
    events_by_name: dict[str, int] = dataclasses.field(default_factory=dict)
    funnel: list[int] = dataclasses.field(default_factory=lambda: [0] * len(_COMMERCE))
    #: currency -> [orders, revenue as an exact Fraction]
    revenue: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    daily_active: list[int] = dataclasses.field(default_factory=list)
    daily_installs: list[int] = dataclasses.field(default_factory=list)
    daily_sessions: list[int] = dataclasses.field(default_factory=list)
    daily_requests: list[int] = dataclasses.field(default_factory=list)
    daily_purchases: list[int] = dataclasses.field(default_factory=list)
    local_hour_starts: list[int] = dataclasses.field(default_factory=lambda: [0] * 24)

    #: How ``merge`` adds each field up (a test checks that every field is named here).
    SUMS = ("devices", "active_devices", "faulty_devices", "churned", "sessions", "faulty_requests")
    LISTS = (
        "funnel",
        "daily_active",
        "daily_installs",
        "daily_sessions",
        "daily_requests",
        "daily_purchases",
        "local_hour_starts",
    )
    COUNTS = ("requests", "events_by_name")

    def __post_init__(self) -> None:
        for name in ("daily_active", "daily_installs", "daily_sessions", "daily_requests", "daily_purchases"):
            setattr(self, name, [0] * self.days)

    def merge(self, other: _Stats) -> None:
        """Add ``other``'s devices in: counters summed, lists element-wise, counts by key, revenue exactly."""
        for name in self.SUMS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in self.LISTS:
            mine = getattr(self, name)
            for k, x in enumerate(getattr(other, name)):
                mine[k] += x
        for name in self.COUNTS:
            counts = getattr(self, name)
            for key, n in getattr(other, name).items():
                counts[key] = counts.get(key, 0) + n
        for currency, (orders, revenue) in other.revenue.items():
            acc = self.revenue.setdefault(currency, [0, Fraction(0)])
            acc[0] += orders
            acc[1] += revenue


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


class _Generator:
    def __init__(
        self, scenario: Scenario, *, config: TimeConfig, start: datetime.date, days: int, table_format: str
    ) -> None:
        self.scenario = scenario
        self.population = Population.build(config=scenario.population, app=scenario.app, seed=scenario.seed)
        self._devices = _SharedDevices(self.population)
        self.engine = JourneyEngine(scenario=scenario, population=self._devices)  # type: ignore[arg-type]
        j = scenario.journey
        self.calendar = _Calendar(config, start=start, days=days, mean_gap=max(j.session_gap.mean, 1.0))
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
            if st.action in _COMMERCE:
                name = st.event or names.get(st.action, "")
                step_of[name] = _COMMERCE.index(st.action)
                if st.action == "purchase":
                    purchase.add(name)
        self.funnel_names = [names.get(a, a) for a in _COMMERCE]
        self.funnel_present = sorted(set(step_of.values()))
        self.step_of = step_of
        self.purchase_names = purchase
        self.stats = _Stats(days)
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
        active_days: set[int] = set()
        n_requests = n_faulty = n_purchases = n_sessions = 0
        day = 0
        esc, quote, iso, floats = _ESCAPED, _quote, iso_utc, _FLOAT_TEXT
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
                ((((int(t * 1000) << 48) | key_base | seq) << (_LEN_BITS + 2)) | len(data) << 2 | ep_i, data + line)
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
            f"{req.endpoint},{_ESCAPED[req.step]},{_ESCAPED[name]}",
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
        for k in range(len(_COMMERCE)):
            if funnel >> k & 1:
                f[k] += 1


def _conversion_table(names: list[str], present: list[int], counts: list[int], sessions: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    prev: int | None = None
    for k in present:
        n = counts[k]
        out.append(
            {
                "step": names[k],
                "sessions": n,
                "of_sessions": round(n / sessions, 4) if sessions else 0.0,
                "of_previous": round(n / prev, 4) if prev else (1.0 if prev is None else 0.0),
            }
        )
        prev = n
    return out


# --- several processes (--jobs) ------------------------------------------------------------------


def _play(
    gen: _Generator,
    low: int,
    high: int,
    runs: _Runs,
    device_rows: IO[bytes],
    chunk_records: int,
    done: Callable[[int], None],
) -> None:
    """Devices ``low`` to ``high - 1``: their records into ``runs`` (spilled every ``chunk_records``),
    their rows to ``device_rows``; ``done(k)`` after the k-th."""
    buf = runs.buffer
    for i in range(low, high):
        gen.device(i, buf, device_rows)
        if len(buf) >= chunk_records:
            runs.spill()
            buf = runs.buffer
        done(i + 1 - low)


@dataclass(frozen=True, slots=True)
class _Block:
    """What a worker process needs to play its contiguous block of devices."""

    scenario: Scenario
    config: TimeConfig
    start: datetime.date
    days: int
    table_format: str
    index: int
    count: int
    low: int
    high: int
    #: The run's temporary directory (the worker writes under ``block-<index>/``).
    directory: Path
    chunk_records: int


#: The parent's generator, inherited by forked workers (built before any file is open), which
#: saves each of them building the population again; spawned workers build their own.
_FORKED: _Generator | None = None


def _play_block(block: _Block, progress: Any = None) -> tuple[_Stats, list[Path], Path]:
    """Play one block of devices in this process: (its statistics, its sorted runs, its devices.csv
    rows). Every record's key is global (time, device, sequence), so the parent's merge of all
    blocks' runs gives the order one process gives; the statistics merge exactly (``_Stats.merge``)."""
    gen = _FORKED or _Generator(
        block.scenario, config=block.config, start=block.start, days=block.days, table_format=block.table_format
    )
    directory = block.directory / f"block-{block.index:03d}"
    directory.mkdir()
    runs = _Runs(directory)
    parent = os.getppid()
    reported = 0

    def done(k: int) -> None:
        nonlocal reported
        if k - reported >= 16 or block.low + k == block.high:
            if progress is not None:
                with progress.get_lock():
                    progress.value += k - reported
            reported = k
            if os.getppid() != parent:  # the parent is gone (killed): nobody will read this block
                os._exit(1)

    part = block.directory / f"devices-{block.index:03d}.csv"
    with part.open("wb") as rows:
        _play(gen, block.low, block.high, runs, rows, block.chunk_records, done)
    runs.spill()  # everything on disk: the parent reads the runs, not this process's memory
    gen.finish()
    return gen.stats, runs.files, part


def _worker(block: _Block, conn: multiprocessing.connection.Connection, progress: Any) -> None:
    # Ctrl-C reaches the whole process group: the parent alone decides, and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        conn.send(("ok", _play_block(block, progress)))
    except BaseException as exc:  # whatever it is, the parent must hear of it
        where = ""
        for frame in traceback.extract_tb(exc.__traceback__)[-1:]:
            where = f" (at {Path(frame.filename).name}:{frame.lineno} in {frame.name})"
        conn.send(("error", f"{type(exc).__name__}: {exc}{where}"))
    finally:
        conn.close()


def _mp_context() -> multiprocessing.context.BaseContext:
    # fork shares the population already built; spawn where there is no fork (macOS defaults, Windows).
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _play_parallel(gen: _Generator, whole: _Block, bar: _Progress) -> tuple[_Runs, list[Path]]:
    """Every device, in ``whole.count`` worker processes on contiguous blocks; sets ``gen.stats`` to
    the merged statistics and returns the runs to merge and the devices.csv parts in device order.

    A worker that fails (or dies) stops the run with a DatasetError naming it; Ctrl-C stops the
    workers too: none outlives this call."""
    global _FORKED
    ctx = _mp_context()
    n, count = whole.high, whole.count
    progress = ctx.Value("q", 0)
    blocks = [dataclasses.replace(whole, index=k, low=n * k // count, high=n * (k + 1) // count) for k in range(count)]
    procs: list[tuple[Any, multiprocessing.connection.Connection]] = []
    results: list[tuple[_Stats, list[Path], Path] | None] = [None] * count
    # A forked child flushes its copy of what is buffered here when it exits: flush first.
    sys.stdout.flush()
    sys.stderr.flush()
    _FORKED = gen if ctx.get_start_method() == "fork" else None
    try:
        for block in blocks:
            recv, send = ctx.Pipe(duplex=False)
            p = ctx.Process(
                target=_worker, args=(block, send, progress), name=f"loadsim-generate-{block.index}", daemon=True
            )
            p.start()
            send.close()  # the worker holds the only write end: its death reads as end of file here
            procs.append((p, recv))
        waiting = {recv: k for k, (_, recv) in enumerate(procs)}
        while waiting:
            for conn in multiprocessing.connection.wait(list(waiting), timeout=0.2):
                k = waiting.pop(conn)  # type: ignore[call-overload]
                b = blocks[k]
                name = f"worker {k + 1} of {count} (devices {b.low} to {b.high - 1})"
                try:
                    status, value = conn.recv()
                except EOFError:
                    p = procs[k][0]
                    p.join(5)
                    raise DatasetError(
                        f"{name} stopped without an answer (exit code {p.exitcode}; killed, or out of "
                        "memory?); no dataset was written: run again, with fewer --jobs"
                    ) from None
                if status != "ok":
                    raise DatasetError(
                        f"{name} failed: {value}; no dataset was written: run with --jobs 1 for the full traceback"
                    )
                results[k] = value
            bar.update(progress.value)
    finally:
        _FORKED = None
        for p, recv in procs:
            if p.is_alive():
                p.terminate()
            p.join()
            recv.close()
    stats = _Stats(whole.days)
    runs = _Runs(whole.directory)
    parts: list[Path] = []
    for result in results:  # block order: the devices.csv parts must come in device order
        assert result is not None
        block_stats, files, part = result
        stats.merge(block_stats)
        runs.files += files
        parts.append(part)
    gen.stats = stats
    return runs, parts


def generate(
    scenario: str | Path | Scenario,
    *,
    out: str | Path,
    users: int | None = None,
    days: int | None = None,
    start: str | datetime.date | None = None,
    seed: int | None = None,
    table_format: str = "csv",
    gzip_output: bool = False,
    progress: bool | None = None,
    quiet: bool = False,
    chunk_records: int = CHUNK_RECORDS,
    jobs: int = 1,
) -> dict[str, Any]:
    """Write a dataset to ``out`` and return its summary (also ``out/summary.json``).

    ``users``, ``days``, ``start`` and ``seed`` override the scenario's population size, ``[time]``
    days and start date, and seed. ``progress`` defaults to "stderr is a terminal and not quiet".
    ``jobs`` processes play the devices (0: one per core); the files are the same for any ``jobs``.
    """
    if jobs < 0:
        raise DatasetError(f"--jobs must be 0 (one process per core) or a number of processes, got {jobs}")
    if table_format not in FORMATS:
        raise DatasetError(f"--format must be one of {', '.join(FORMATS)}, got {table_format!r}")
    if table_format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise DatasetError(
                "--format parquet needs pyarrow: pip install 'loadsim[parquet]' "
                "(or pip install pyarrow), or use --format csv"
            ) from None
    if isinstance(scenario, Scenario):
        sc = scenario
        ref = str(sc.path) if sc.path else sc.name
    else:
        sc = load_scenario(scenario)
        ref = str(scenario) if not str(scenario).endswith(".toml") else str(Path(scenario).resolve())
    changes: dict[str, Any] = {}
    if seed is not None:
        if not 0 <= seed < 2**31:
            raise DatasetError(f"--seed must be from 0 to 2147483647, got {seed}")
        changes["seed"] = seed
    if users is not None:
        if users < 1:
            raise DatasetError(f"--users must be at least 1, got {users}")
        changes["population"] = dataclasses.replace(sc.population, devices=users)
    if changes:
        sc = dataclasses.replace(sc, **changes)
    config = sc.time
    n_days = config.days if days is None else days
    if n_days < 1:
        raise DatasetError(f"--days must be at least 1, got {n_days}")
    try:
        first = (
            (start if isinstance(start, datetime.date) else datetime.date.fromisoformat(start))
            if start
            else config.start_date()
        )
    except ValueError:
        raise DatasetError(f"--start must be an ISO date such as 2026-01-05, got {start!r}") from None
    late = [c for c in config.campaigns if c.day > n_days]
    if late:
        sys.stderr.write(
            f"loadsim: note: campaign day(s) {', '.join(str(c.day) for c in late)} fall after the "
            f"{n_days} simulated day(s) and are left out\n"
        )
    show = (sys.stderr.isatty() if progress is None else progress) and not quiet
    bar = _Progress(show)

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    # summary.json marks a finished dataset (read_summary): one from an earlier run must not vouch
    # for files this run may leave half-written if it fails.
    (out_dir / "summary.json").unlink(missing_ok=True)
    (out_dir / "requests").mkdir(exist_ok=True)
    suffix = ".gz" if gzip_output else ""
    gen = _Generator(sc, config=config, start=first, days=n_days, table_format=table_format)
    n = len(gen.population)
    workers = min(jobs or os.cpu_count() or 1, n)
    tmp = Path(tempfile.mkdtemp(prefix=".runs-", dir=out_dir))
    try:
        bar.phase("devices", n)
        devices_path = out_dir / f"devices.csv{suffix}"
        if workers == 1:
            runs = _Runs(tmp)
            with _open_out(devices_path, gzip_output) as dev_out:
                dev_out.write(_csv_line(DEVICE_COLUMNS))
                _play(gen, 0, n, runs, dev_out, chunk_records, bar.update)
            gen.finish()
        else:
            block = _Block(
                scenario=sc,
                config=config,
                start=first,
                days=n_days,
                table_format=table_format,
                index=0,
                count=workers,
                low=0,
                high=n,
                directory=tmp,
                chunk_records=chunk_records,
            )
            runs, parts = _play_parallel(gen, block, bar)
            # The devices' rows, block after block: device order, as one process writes them.
            with _open_out(devices_path, gzip_output) as dev_out:
                dev_out.write(_csv_line(DEVICE_COLUMNS))
                for part in parts:
                    with part.open("rb") as f:
                        shutil.copyfileobj(f, dev_out, 1 << 20)
                    part.unlink()
        bar.close()
        total = sum(gen.stats.requests.values())
        bar.phase("writing", total)
        _write_files(out_dir, runs.merged(), table_format=table_format, suffix=suffix, gz=gzip_output, progress=bar)
        bar.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = _summary(gen, sc, ref=ref, start=first, days=n_days, table_format=table_format, suffix=suffix)
    (out_dir / "summary.json").write_bytes(
        orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    (out_dir / "README.md").write_text(_readme(summary), encoding="utf-8")
    return summary


def _write_files(
    out_dir: Path, blocks: Iterator[list[Record]], *, table_format: str, suffix: str, gz: bool, progress: _Progress
) -> None:
    files = [_open_out(out_dir / "requests" / f"{ep}.jsonl{suffix}", gz) for ep in ENDPOINTS]
    table_path = out_dir / (f"events.{table_format}{suffix}" if table_format != "parquet" else ".events.csv")
    table = _open_out(table_path, gz and table_format != "parquet")
    try:
        if table_format != "jsonl":
            table.write(_csv_line(TABLE_COLUMNS))
        # Gathered and written a few thousand at a time: a list append is a fifth of a file write.
        bodies: list[list[bytes]] = [[] for _ in files]
        rows: list[bytes] = []
        mask = _LEN_MASK
        done = 0
        for block in blocks:
            for key, data in block:
                n = key >> 2 & mask
                bodies[key & 3].append(data[:n])
                rows.append(data[n:])
                if len(rows) >= 4096:
                    done += _flush(files, bodies, table, rows)
                    progress.update(done)
        _flush(files, bodies, table, rows)
    finally:
        for f in (*files, table):
            f.close()
    if table_format == "parquet":
        _csv_to_parquet(table_path, out_dir / "events.parquet")
        table_path.unlink()


def _flush(files: list[IO[bytes]], bodies: list[list[bytes]], table: IO[bytes], rows: list[bytes]) -> int:
    for f, lines in zip(files, bodies, strict=True):
        if lines:
            f.write(b"".join(lines))
            lines.clear()
    table.write(b"".join(rows))
    n = len(rows)
    rows.clear()
    return n


def _csv_to_parquet(src: Path, dst: Path) -> None:
    """The CSV table as Parquet, streamed in batches (pyarrow), typed columns."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    types: dict[str, Any] = {c: pa.string() for c in TABLE_COLUMNS}
    types.update({c: pa.int64() for c in _INT_COLUMNS})
    types.update({c: pa.bool_() for c in _BOOL_COLUMNS})
    types["value"] = pa.float64()
    convert = pacsv.ConvertOptions(
        column_types=types,
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["1"],
        false_values=["0"],
        include_columns=list(TABLE_COLUMNS),
    )
    reader = pacsv.open_csv(src, convert_options=convert, read_options=pacsv.ReadOptions(block_size=1 << 22))
    schema = pa.schema([(c, types[c]) for c in TABLE_COLUMNS])
    with pq.ParquetWriter(dst, schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)


def _summary(
    gen: _Generator, sc: Scenario, *, ref: str, start: datetime.date, days: int, table_format: str, suffix: str
) -> dict[str, Any]:
    s, cal = gen.stats, gen.calendar
    table = f"events.{table_format}" + (suffix if table_format != "parquet" else "")
    return {
        "dataset": {
            "format_version": FORMAT_VERSION,
            "scenario": sc.name,
            "scenario_ref": ref,
            "seed": sc.seed,
            "app_id": sc.app.app_id,
            "start": start.isoformat(),
            "days": days,
            "table_format": table_format,
            "gzip": bool(suffix),
            "files": {
                "requests": {ep: f"requests/{ep}.jsonl{suffix}" for ep in ENDPOINTS},
                "events_table": table,
                "devices_table": f"devices.csv{suffix}",
            },
            "campaigns": {str(d + 1): name for d, name in enumerate(cal.campaign_names) if name},
        },
        "devices": {
            "total": s.devices,
            "active": s.active_devices,
            "with_faulty_requests": s.faulty_devices,
            "churned": s.churned,
        },
        "sessions": s.sessions,
        "requests": {**s.requests, "total": sum(s.requests.values()), "faulty": s.faulty_requests},
        "events_by_name": dict(sorted(s.events_by_name.items())),
        "funnel": _conversion_table(gen.funnel_names, gen.funnel_present, s.funnel, s.sessions),
        "revenue_by_currency": {
            c: {"orders": int(v[0]), "revenue": round(float(v[1]), 2)} for c, v in sorted(s.revenue.items())
        },
        "daily_active_devices": list(s.daily_active),
        "daily": [
            {
                "day": d + 1,
                "date": cal.dates[d],
                "campaign": cal.campaign_names[d] or None,
                "active_devices": s.daily_active[d],
                "installs": s.daily_installs[d],
                "sessions": s.daily_sessions[d],
                "requests": s.daily_requests[d],
                "purchases": s.daily_purchases[d],
            }
            for d in range(days)
        ],
        "session_starts_by_local_hour": list(s.local_hour_starts),
    }


def _readme(summary: dict[str, Any]) -> str:
    d = summary["dataset"]
    files = d["files"]
    req = summary["requests"]
    lines = [
        f"# Synthetic dataset: {d['scenario']}",
        "",
        f"Generated by `loadsim generate {d['scenario_ref']} --seed {d['seed']} --days {d['days']} "
        f"--start {d['start']}` (loadsim dataset format {d['format_version']}). Every person, device, email "
        "and phone number is synthetic: emails on reserved domains, phones from ranges reserved for fiction.",
        "",
        f"- {summary['devices']['total']:,} devices ({summary['devices']['active']:,} active), "
        f"{summary['sessions']:,} sessions, {req['total']:,} requests "
        f"({req['faulty']:,} deliberately malformed by faulty SDKs), over {d['days']} days from {d['start']} "
        "(local midnight in each device's time zone).",
        f"- App id `{d['app_id']}`."
        + (
            " Campaign days: " + ", ".join(f"day {k} ({v})" for k, v in d["campaigns"].items()) + "."
            if d["campaigns"]
            else ""
        ),
        "",
        "## Files",
        "",
        "| file | what |",
        "|---|---|",
    ]
    for ep, path in files["requests"].items():
        lines.append(
            f"| `{path}` | `{ep}` request bodies exactly as the app sends them, one JSON per line, "
            f"in `added_at` order ({req[ep]:,}) |"
        )
    lines += [
        f"| `{files['events_table']}` | one flat row per request, the same order (columns below) |",
        f"| `{files['devices_table']}` | one row per device: platform, country, time zone, model, install "
        "time, sessions, requests, purchases, WebView user agent |",
        "| `summary.json` | counts: devices, sessions, events by name, funnel conversion, revenue by currency, "
        "daily active devices, session starts by local hour |",
        "",
        "## The events table",
        "",
        "`time` is `added_at` in UTC; `local_time` the device's wall clock; `day` the simulated day (1 = first) "
        "in the device's calendar; `device` the device number (as in the devices table); `user_id` and "
        "`session_id` the body's `uid` and `sid`; `value`, `currency`, `transaction_id`, `items`, `coupon` "
        "from e-commerce events; `utm_*` from ad-click sessions; `identified` whether the body carries "
        "`identify_by`; `campaign` the campaign of that day; `faulty` and `fault` mark a faulty SDK's "
        "malformed body (the API answers it 400).",
        "",
        "Columns: " + ", ".join(f"`{c}`" for c in TABLE_COLUMNS) + ".",
        "",
        "## Replay",
        "",
        "`loadsim replay DIR` sends these requests to the mock collector (or `--host URL`) in order per device, "
        "`--speed 60` playing one simulated hour per minute (`--speed 0`: as fast as possible), `--restamp` "
        "moving `added_at` to the send time; it writes a report like `loadsim run`.",
        "",
    ]
    return "\n".join(lines)


# --- reading a dataset ----------------------------------------------------------------------------


def read_summary(directory: str | Path) -> dict[str, Any]:
    """A dataset's ``summary.json``; DatasetError says what is wrong with the directory."""
    path = Path(directory) / "summary.json"
    try:
        summary: dict[str, Any] = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise DatasetError(
            f"{directory} is not a loadsim dataset (no summary.json): make one with loadsim generate SCENARIO --out DIR"
        ) from None
    except orjson.JSONDecodeError as e:
        raise DatasetError(f"{path} is not valid JSON ({e}): generate the dataset again") from None
    version = summary.get("dataset", {}).get("format_version")
    if version != FORMAT_VERSION:
        raise DatasetError(
            f"{directory}: dataset format {version!r}, this loadsim reads {FORMAT_VERSION}: generate it again"
        )
    return summary


@dataclass(slots=True)
class DatasetRecord:
    """One request of a dataset, as read back: its send time, device, and the Request to post."""

    time: float
    device: int
    request: Request
    #: The body exactly as written (one JSONL line without its newline).
    data: bytes


def _table_rows(directory: Path, table: str) -> Iterator[dict[str, Any]]:
    path = directory / table
    if table.endswith(".parquet"):
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(
            columns=["time", "endpoint", "step", "device", "session_number", "faulty", "fault"]
        ):
            yield from batch.to_pylist()
        return
    with _open_in(path) as raw:
        if ".jsonl" in table:
            for line in raw:
                yield orjson.loads(line)
            return
        import csv

        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        for row in reader:
            yield {
                "time": row["time"],
                "endpoint": row["endpoint"],
                "step": row["step"],
                "device": int(row["device"]),
                "session_number": int(row["session_number"]),
                "faulty": row["faulty"] == "1",
                "fault": row["fault"] or None,
            }


def _epoch(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def read_dataset(directory: str | Path, *, devices: Callable[[int], bool] | None = None) -> Iterator[DatasetRecord]:
    """Every request of a dataset in ``added_at`` order (optionally only devices where ``devices(d)``).

    Streams: the table and the three request files are read in step; only the devices' user
    agents (for the headers) are held in memory.
    """
    directory = Path(directory)
    summary = read_summary(directory)
    files = summary["dataset"]["files"]
    agents: dict[int, dict[str, str]] = {}
    import csv

    with _open_in(directory / files["devices_table"]) as raw:
        for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline="")):
            d = int(row["device"])
            if devices is None or devices(d):
                agents[d] = {"Content-Type": CONTENT_TYPE, "CL-User-Agent": row["user_agent"]}
    streams = [_open_in(directory / files["requests"][ep]) for ep in ENDPOINTS]
    index = {ep: k for k, ep in enumerate(ENDPOINTS)}
    last_time = ""
    last_epoch = 0.0
    try:
        for row in _table_rows(directory, files["events_table"]):
            ep = row["endpoint"]
            line = streams[index[ep]].readline()
            if not line:
                raise DatasetError(
                    f"{directory}: requests/{ep} ends before the events table does: "
                    "the dataset is truncated; generate it again"
                )
            device = int(row["device"])
            if devices is not None and not devices(device):
                continue
            if row["time"] != last_time:
                last_time, last_epoch = row["time"], _epoch(row["time"])
            data = line.rstrip(b"\n")
            body = orjson.loads(data)
            req = Request(
                ep,
                row["step"],
                body,
                last_epoch,
                agents.get(device, {"Content-Type": CONTENT_TYPE}),
                bool(row["faulty"]),
                row["fault"] or None,
                int(row["session_number"]) - 1,
            )
            yield DatasetRecord(last_epoch, device, req, data)
    finally:
        for s in streams:
            s.close()
