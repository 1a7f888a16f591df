"""The calendar of a dataset: simulated days in local time, curves, campaign days, UTC offsets."""

from __future__ import annotations

import bisect
import datetime
import math
import random
import sys
from array import array
from collections.abc import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from simulator.scenario import TimeConfig


def _normalised(xs: Iterable[float]) -> list[float]:
    xs = list(xs)
    total = sum(xs)
    if not math.isfinite(total):
        # Weights near the largest float sum to inf: only their shape counts, so scale them first
        # (only then, so the usual weights give the same bytes as before).
        top = max(xs)
        xs = [x / top for x in xs]
        total = sum(xs)
    mean = total / len(xs)
    return [x / mean for x in xs]


def _shape_in_logs(growth: float, weekly: list[float], installs: list[float]) -> list[float]:
    """Each day's install weight, (1 + growth) ** day x weekday x campaign, over the largest, in logs: when
    even the largest is below the smallest normal float (tiny factors), the shape survives. Only
    then, so usual weights give the same bytes; a day with a weekday weight of 0 stays 0."""
    step = math.log1p(growth)
    logs = [
        d * step + math.log(w) + math.log(i) if w > 0 else -math.inf
        for d, (w, i) in enumerate(zip(weekly, installs, strict=True))
    ]
    top = max(logs)
    if top == -math.inf:
        return [0.0] * len(logs)  # no day has a weekday weight: nothing to keep
    return [math.exp(x - top) for x in logs]


class Offsets:
    """A time zone's UTC offsets (seconds to add to UTC) by the UTC hour ``k`` from ``Calendar.base_utc``,
    as runs: ``values[i]`` from hour ``changes[i - 1]`` (any hour before the first change for
    ``values[0]``, any after the last for ``values[-1]``). Offsets change only at DST and law
    changes, so a zone holds a few entries a year however many days the period spans."""

    __slots__ = ("changes", "values")

    def __init__(self, changes: list[int], values: list[int]) -> None:
        self.changes, self.values = changes, values

    def at(self, k: int) -> int:
        """The offset in UTC hour ``k`` (clamped: before the table its first, after it its last)."""
        return self.values[bisect.bisect_right(self.changes, k)]


class Calendar:
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
        # The sessions a campaign adds are the campaign's traffic: that share of the day's sessions
        # opens from its ads (utm_campaign = its name).
        self.campaign_share = [
            1.0 - 1.0 / campaigns[d].sessions if d in campaigns and campaigns[d].sessions > 1 else 0.0
            for d in range(days)
        ]
        self.dates = [(start + datetime.timedelta(days=d)).isoformat() for d in range(days)]
        weekday = [(start + datetime.timedelta(days=d)).weekday() for d in range(days)]
        # Session-start intensity per local hour of the period (shape only; mean 1 over a week). An
        # array of doubles: 8 bytes an hour where a list of floats took 32 (20 MB over 100 years).
        self.shape = array(
            "d",
            (
                daily[h % 24]
                * weekly[weekday[h // 24]]
                * (campaigns[h // 24].sessions if h // 24 in campaigns else 1.0)
                for h in range(self.hours)
            ),
        )
        self.shape_max = max(self.shape) or 1.0
        self.rate_max = self.shape_max / mean_gap  # returning sessions per second at the busiest hour
        growth = 1.0 + config.install_growth
        installs = [campaigns[d].installs if d in campaigns else 1.0 for d in range(days)]
        weights = [growth**d * weekly[weekday[d]] * installs[d] for d in range(days)]
        if max(weights) < sys.float_info.min:
            weights = _shape_in_logs(config.install_growth, [weekly[w] for w in weekday], installs)
        acc = 0.0
        self.install_cum: list[float] = []
        for w in weights:
            acc += w
            self.install_cum.append(acc)
        acc = 0.0
        self.hour_cum: list[float] = []
        for x in daily:
            acc += x
            self.hour_cum.append(acc)
        # UTC offsets of each zone for every UTC hour the period can touch (UTC+14 .. UTC-12).
        self.base_utc = self.start_naive - 15 * 3600
        self.n_hours = self.hours + 30
        self._offsets: dict[str, Offsets] = {}
        self.churn_rate = -math.log(1.0 - config.churn) / 86400.0 if config.churn < 1.0 else math.inf

    def offsets(self, tz: str) -> Offsets:
        """Seconds to add to UTC for local time in ``tz``, per UTC hour from ``base_utc`` (DST exact)."""
        off = self._offsets.get(tz)
        if off is None:
            try:
                zone: datetime.tzinfo = ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError):
                zone = datetime.UTC  # an unknown zone (a catalogue typo) lives on UTC rather than fail
            # Each hour is asked (a transition may fall on any), but only the changes are kept:
            # a list per hour was ~1 KB per zone per day, most of a long dataset's memory.
            changes: list[int] = []
            values: list[int] = []
            last: datetime.timedelta | None = None
            from_timestamp = datetime.datetime.fromtimestamp
            for k in range(self.n_hours):
                # Compared as timedeltas: converted only where they change, it is a third faster.
                delta = from_timestamp(self.base_utc + k * 3600, zone).utcoffset()
                if delta != last:
                    last = delta
                    # An aware datetime always has an offset.
                    value = int(delta.total_seconds())  # type: ignore[union-attr]
                    if not values or value != values[-1]:
                        changes.append(k)
                        values.append(value)
            off = self._offsets[tz] = Offsets(changes[1:], values)  # hour 0 starts the first run
        return off

    def lifetime(self, rnd: random.Random) -> float:
        """Seconds from an install to the day the device churns (never returns)."""
        rate = self.churn_rate
        return rnd.expovariate(rate) if 0 < rate < math.inf else (math.inf if rate == 0 else 0.0)

    def day_of(self, off: Offsets, t: float) -> int:
        """The simulated day (0 = the first) of UTC time ``t`` in the zone of ``off``, within the period."""
        return max(0, min(self.hours - 1, int(t + self.offset_at(off, t) - self.start_naive) // 3600)) // 24

    def offset_at(self, off: Offsets, t: float) -> int:
        return off.at(int(t - self.base_utc) // 3600)

    def to_utc(self, off: Offsets, local: float) -> float:
        guess = local - self.offset_at(off, local)
        return local - self.offset_at(off, guess)

    def install(self, rnd: random.Random, off: Offsets) -> float:
        """An install time: the day by growth, the local hour by the daily curve."""
        day = bisect.bisect_right(self.install_cum, rnd.random() * self.install_cum[-1])
        hour = bisect.bisect_right(self.hour_cum, rnd.random() * self.hour_cum[-1])
        local = self.start_naive + min(day, self.days - 1) * 86400 + (min(hour, 23) + rnd.random()) * 3600
        return self.to_utc(off, local)

    def next_session(self, rnd: random.Random, off: Offsets, after: float, until: float) -> float | None:
        """The first returning-session start after ``after`` (thinning), or None if none before ``until``."""
        t = after
        shape, start, rate_max, smax = self.shape, self.start_naive, self.rate_max, self.shape_max
        hours, base = self.hours, self.base_utc
        changes, values, bisect_right = off.changes, off.values, bisect.bisect_right
        expovariate, random_ = rnd.expovariate, rnd.random
        while True:
            t += expovariate(rate_max)
            if t >= until:
                return None
            # offset_at, inline: a session start tries a few candidates
            h = int(t + values[bisect_right(changes, int(t - base) // 3600)] - start) // 3600
            if h >= hours:
                return None
            if h >= 0 and random_() * smax < shape[h]:
                return t
