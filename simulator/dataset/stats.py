"""What summary.json reports, gathered device by device, merged exactly across processes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from simulator.dataset.layout import ENDPOINT_NAMES

COMMERCE = ("view_item", "add_to_cart", "begin_checkout", "purchase")


@dataclass(slots=True)
class Stats:
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
    #: Of ``sessions``, those whose start (externalIds) is a healthy request: the funnel's first stage.
    accepted_sessions: int = 0
    requests: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(ENDPOINT_NAMES, 0))
    faulty_requests: int = 0
    events_by_name: dict[str, int] = dataclasses.field(default_factory=dict)
    funnel: list[int] = dataclasses.field(default_factory=lambda: [0] * len(COMMERCE))
    #: currency -> [orders, revenue as an exact Fraction]
    revenue: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    daily_active: list[int] = dataclasses.field(default_factory=list)
    daily_installs: list[int] = dataclasses.field(default_factory=list)
    daily_sessions: list[int] = dataclasses.field(default_factory=list)
    daily_requests: list[int] = dataclasses.field(default_factory=list)
    daily_purchases: list[int] = dataclasses.field(default_factory=list)
    local_hour_starts: list[int] = dataclasses.field(default_factory=lambda: [0] * 24)

    #: How ``merge`` adds each field up (a test checks that every field is named here).
    SUMS = (
        "devices",
        "active_devices",
        "faulty_devices",
        "churned",
        "sessions",
        "accepted_sessions",
        "faulty_requests",
    )
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

    def merge(self, other: Stats) -> None:
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


def conversion_table(names: list[str], present: list[int], counts: list[int], sessions: int) -> list[dict[str, Any]]:
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


def stats_to_json(s: Stats) -> dict[str, Any]:
    """``s`` as plain JSON (a shard's manifest): revenue as exact fractions written ``"p/q"``."""
    out = dataclasses.asdict(s)
    out["revenue"] = {c: [orders, str(Fraction(revenue))] for c, (orders, revenue) in s.revenue.items()}
    return out


def stats_from_json(data: dict[str, Any]) -> Stats:
    """What ``stats_to_json`` wrote, back as the same Stats (its fractions exact)."""
    fields = {f.name for f in dataclasses.fields(Stats)}
    unknown = set(data) - fields
    if unknown or "days" not in data:
        raise ValueError(f"not a dataset's statistics (fields {sorted(unknown) or 'without days'})")
    s = Stats(int(data["days"]))
    for name, value in data.items():
        if name == "revenue":
            value = {c: [int(orders), Fraction(revenue)] for c, (orders, revenue) in value.items()}
        setattr(s, name, value)
    return s
