"""Log-bucketed latency histograms: bounded memory, at most 1% relative error, mergeable.

Locust keeps response times rounded to two significant figures (a fixed 123 ms becomes 120 ms
in its percentiles). Here a value ``v`` seconds lands in bucket ``floor(log(v / LOW) / log(1 + 2 *
ERROR))`` and reads back as the bucket's geometric middle, so every percentile is within
``ERROR`` (1%) of a true sample value from 100 us to 60 s. Workers ship the bucket counts
(``to_dict``) and the master adds them (``merge``): the merged percentiles are those of one
histogram fed every sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["ERROR", "HIGH", "LOW", "PERCENTILES", "Histogram", "bucket", "bucket_value", "sparse_percentile"]

#: Smallest and largest value (seconds) resolved to ``ERROR``; outside them values are clamped
#: into the first or last bucket (their exact min and max are kept).
LOW = 100e-6
HIGH = 60.0
#: Relative error of a reported percentile against the sample it stands for.
ERROR = 0.01
_GROWTH = 1 + 2 * ERROR
_INV_LOG_GROWTH = 1 / math.log(_GROWTH)
BUCKETS = int(math.log(HIGH / LOW) * _INV_LOG_GROWTH) + 1
#: Percentiles every report shows, with their summary key suffix.
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p95", 95.0),
    ("p99", 99.0),
    ("p999", 99.9),
)


def bucket(seconds: float) -> int:
    """The bucket a value (seconds) falls in; values outside [LOW, HIGH] go to the first or last."""
    if seconds <= LOW:
        return 0
    i = int(math.log(seconds / LOW) * _INV_LOG_GROWTH)
    return i if i < BUCKETS else BUCKETS - 1


def bucket_value(i: int) -> float:
    """The value a bucket reads back as: its geometric middle, within ERROR of anything in it."""
    value: float = LOW * _GROWTH ** (i + 0.5)  # float ** float is typed Any (it may be complex)
    return value


def sparse_percentile(buckets: Mapping[int, int], p: float) -> float:
    """A percentile (seconds) of a sparse ``{bucket: count}`` histogram, such as a timeline slice's."""
    count = sum(buckets.values())
    if count == 0:
        return 0.0
    rank = max(1, math.ceil(p / 100 * count))
    seen = 0
    for i in sorted(buckets):
        seen += buckets[i]
        if seen >= rank:
            return bucket_value(i)
    return bucket_value(max(buckets))


class Histogram:
    """Counts of values (seconds) in log buckets, plus the exact count, sum, min and max."""

    __slots__ = ("count", "counts", "max", "min", "total")

    def __init__(self) -> None:
        self.counts: list[int] = [0] * BUCKETS
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0

    def record(self, seconds: float, i: int | None = None) -> int:
        """Add one value (about 0.3 us, so it is cheap on every request); returns its bucket.

        ``i`` is the value's bucket when the caller has it already (one value, several histograms).
        """
        if i is None:
            i = bucket(seconds)
        self.counts[i] += 1
        self.count += 1
        self.total += seconds
        if seconds < self.min:
            self.min = seconds
        if seconds > self.max:
            self.max = seconds
        return i

    def merge(self, other: Histogram) -> None:
        """Add another histogram's values to this one (a worker's into the master's)."""
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def percentile(self, p: float) -> float:
        """The value (seconds) below which ``p`` percent of the values fall; 0.0 when empty.

        Clamped to the exact min and max, so p0 and p100 are exact.
        """
        if self.count == 0:
            return 0.0
        rank = max(1, math.ceil(p / 100 * self.count))
        if rank == 1:
            return self.min
        if rank == self.count:
            return self.max
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                return min(max(bucket_value(i), self.min), self.max)
        return self.max

    def percentiles(self) -> dict[str, float]:
        """``PERCENTILES`` in milliseconds, plus ``max_ms`` and ``mean_ms``, keyed as reports show them."""
        out = {f"{key}_ms": round(self.percentile(p) * 1000, 3) for key, p in PERCENTILES}
        out["max_ms"] = round(self.max * 1000, 3)
        out["mean_ms"] = round(self.total / self.count * 1000, 3) if self.count else 0.0
        return out

    def to_dict(self) -> dict[str, Any]:
        """A compact, JSON-ready form (only non-empty buckets) for shipping and saving."""
        return {
            "buckets": {str(i): c for i, c in enumerate(self.counts) if c},
            "count": self.count,
            "total": self.total,
            "min": self.min if self.count else None,
            "max": self.max,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        h = cls()
        for i, c in data["buckets"].items():
            h.counts[int(i)] = int(c)
        h.count = int(data["count"])
        h.total = float(data["total"])
        h.min = math.inf if data["min"] is None else float(data["min"])
        h.max = float(data["max"])
        return h

    @classmethod
    def of(cls, values: Iterable[float]) -> Histogram:
        h = cls()
        for v in values:
            h.record(v)
        return h

    def __repr__(self) -> str:
        return f"Histogram(count={self.count}, p50={self.percentile(50):.6f}s, max={self.max:.6f}s)"
