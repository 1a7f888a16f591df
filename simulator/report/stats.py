"""What one load-generating process measured, in a form workers ship and the master adds up.

Locust's own statistics stay as they are (its tables, CSV and HTML); these are the harness's:
latency from the intended start and service time in log histograms per endpoint, per journey
step and in total; expected rejections apart from failures; errors by kind with a first
example; open-model arrivals and drops; and what reconciliation needs (200s and the digest of
the bodies that got them, per endpoint).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.digest import DIGEST_MASK
from simulator.report.histogram import Histogram, bucket

__all__ = ["Outcome", "RunStats", "Series"]

TOTAL = "total"
#: Seconds per timeline slice (charts over time); the master coarsens past MAX_SLICES.
TIMELINE_STEP = 2
MAX_SLICES = 900

_CLIENT_COUNTERS = ("recovered", "requeued", "client_dropped", "unsent", "offline_sessions")
#: Plain numbers in a slice (the rest are request rows).
_GAUGES = ("dropped", "queued", "retries", "inflight", "cpu")
#: Gauges sampled once a second in each process: several workers' samples of one moment add up
#: (``inflight``, ``queued``) or peak (``cpu``, the busiest process); one process's samples over a
#: longer slice peak.
_SAMPLED = ("queued", "inflight", "cpu")
#: One timeline slice: name (an endpoint or ``total``) -> [requests, failures, {latency bucket: n}],
#: plus ``dropped`` -> open-model arrivals dropped in the slice, ``retries`` -> attempts the
#: simulated SDKs retried in it and ``queued`` -> the offline queues' depth.
Slice = dict[str, Any]


@dataclass(slots=True)
class Series:
    """One row of a report: an endpoint, a journey step, or the total."""

    latency: Histogram = field(default_factory=Histogram)
    service: Histogram = field(default_factory=Histogram)
    count: int = 0
    failures: int = 0
    expected_rejections: int = 0

    def merge(self, other: Series) -> None:
        self.latency.merge(other.latency)
        self.service.merge(other.service)
        self.count += other.count
        self.failures += other.failures
        self.expected_rejections += other.expected_rejections

    def to_dict(self) -> dict[str, Any]:
        return {
            "latency": self.latency.to_dict(),
            "service": self.service.to_dict(),
            "count": self.count,
            "failures": self.failures,
            "expected_rejections": self.expected_rejections,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Series:
        return cls(
            Histogram.from_dict(d["latency"]),
            Histogram.from_dict(d["service"]),
            d["count"],
            d["failures"],
            d["expected_rejections"],
        )


#: How a request ended, as the harness judges it.
Outcome = str  # "ok" | "expected_rejection" | "failure"


class RunStats:
    """The harness's measurements in one process; ``take()`` hands them over and starts afresh."""

    def __init__(self) -> None:
        self.endpoints: dict[str, Series] = {}
        self.steps: dict[str, Series] = {}
        self.total = Series()
        #: error kind -> {"count", "example"}; a kind is e.g. ``status 503`` or ``ConnectionResetError``.
        self.errors: dict[str, dict[str, Any]] = {}
        #: Expected rejections (a faulty SDK's body answered 400) by fault kind -> {"count", "example"}:
        #: the example is the collector's first 400 message for that kind.
        self.rejections: dict[str, dict[str, Any]] = {}
        #: endpoint -> number of 200s, and the sum mod 2**64 of the digests of their bodies.
        self.accepted: dict[str, int] = {}
        self.digests: dict[str, int] = {}
        #: endpoint -> digests of bodies whose request was cut off when the test stopped: the
        #: target may or may not have stored them (at most one per user).
        self.interrupted: dict[str, list[int]] = {}
        #: endpoint -> seconds each of those cut-off requests had waited for its answer.
        self.unfinished: dict[str, list[float]] = {}
        #: endpoint -> the longest one attempt waited for its answer (or its error), in seconds.
        self.longest_wait: dict[str, float] = {}
        #: Slice start (epoch seconds, a multiple of the step) -> what happened in it.
        self.timeline: dict[int, Slice] = {}
        self.timeline_step = TIMELINE_STEP
        #: (uid, email lower-cased, phone) of each identify the target accepted, and of those cut
        #: off at stop: reconciliation derives the profile merges the collector must have made.
        #: A set: identifying again merges nothing new, so a long soak keeps one entry per identity.
        self.identities: set[tuple[str, str | None, str | None]] = set()
        self.interrupted_identities: list[tuple[str, str | None, str | None]] = []
        #: Client behaviour: extra attempts per endpoint, requests that succeeded after retrying,
        #: requests put back in the offline queue, dropped from a full queue, unsent at the end.
        self.retries: dict[str, int] = {}
        #: Why the SDKs retried: error kind of each failed attempt that was tried again.
        self.retried_kinds: dict[str, int] = {}
        self.recovered = 0
        self.requeued = 0
        self.client_dropped = 0
        self.unsent = 0
        self.offline_sessions = 0
        #: Funnel counters: sessions started, identified, added to cart, purchased...
        self.funnel: dict[str, int] = {}
        self.arrivals = 0
        self.dropped = 0
        #: Intended times of the first and last arrival (open model): the window the rate is over.
        self.arrival_first = 0.0
        self.arrival_last = 0.0
        #: Open model, per stage (its index as a string, for msgpack and JSON): [arrivals, dropped,
        #: requests handed to users], so a flash sale's peak is judged on its own, not averaged away.
        self.stage_arrivals: dict[str, list[int]] = {}
        self.sent_bytes = 0
        #: Readings of the generator's CPU taken (one a second in each process; the timeline keeps them).
        self.cpu_readings = 0

    def arrive(self, intended: float, *, dropped: bool, stage: int | None = None, requests: int = 0) -> None:
        """One open-model arrival at its intended time, in ``stage`` of the load profile; ``dropped``
        when no user was free for it, else ``requests`` is the length of the session handed out."""
        self.arrivals += 1
        self.dropped += dropped
        if stage is not None:
            counts = self.stage_arrivals.setdefault(str(stage), [0, 0, 0])
            counts[0] += 1
            counts[1] += dropped
            counts[2] += requests
        if dropped:
            key = int(intended) // self.timeline_step * self.timeline_step
            piece = self.timeline.get(key)
            if piece is None:
                piece = self.timeline[key] = {}
            piece["dropped"] = piece.get("dropped", 0) + 1
        if not self.arrival_first:
            self.arrival_first = intended
        self.arrival_last = intended

    @property
    def achieved_rate(self) -> float | None:
        """Arrivals handed to users per second over the arrival window (None without arrivals)."""
        if self.arrivals < 2 or self.arrival_last <= self.arrival_first:
            return None
        # n arrivals span n-1 intervals
        return (
            (self.arrivals - self.dropped)
            * (self.arrivals - 1)
            / self.arrivals
            / (self.arrival_last - self.arrival_first)
        )

    def record(
        self,
        *,
        endpoint: str,
        step: str,
        latency: float,
        service: float,
        outcome: Outcome,
        error: str | None = None,
        example: str | None = None,
        at: float = 0.0,
    ) -> None:
        """One request ending at ``at`` (epoch): its latency from the intended start and its service time.

        On every request: each value's bucket is computed once for the three series it goes to.
        """
        b, sb = bucket(latency), bucket(service)
        for table, key in ((self.endpoints, endpoint), (self.steps, step)):
            series = table.get(key)
            if series is None:
                series = table[key] = Series()
            self._add(series, latency, service, outcome, b, sb)
        self._add(self.total, latency, service, outcome, b, sb)
        slice_key = int(at) // self.timeline_step * self.timeline_step
        piece = self.timeline.get(slice_key)
        if piece is None:
            piece = self.timeline[slice_key] = {}
        failed = outcome == "failure"
        for name in (endpoint, TOTAL):
            row = piece.get(name)
            if row is None:
                row = piece[name] = [0, 0, {}]
            row[0] += 1
            row[1] += failed
            row[2][b] = row[2].get(b, 0) + 1
        if error is not None:
            kinds = self.rejections if outcome == "expected_rejection" else self.errors
            kind = kinds.get(error)
            if kind is None:
                kinds[error] = {"count": 1, "example": example or error}
            else:
                kind["count"] += 1

    @staticmethod
    def _add(series: Series, latency: float, service: float, outcome: Outcome, b: int, sb: int) -> None:
        series.latency.record(latency, b)
        series.service.record(service, sb)
        series.count += 1
        if outcome == "failure":
            series.failures += 1
        elif outcome == "expected_rejection":
            series.expected_rejections += 1

    def accept(self, endpoint: str, digest: int) -> None:
        """A body the target answered 200: it must be in the mock's store (reconciliation)."""
        self.accepted[endpoint] = self.accepted.get(endpoint, 0) + 1
        self.digests[endpoint] = (self.digests.get(endpoint, 0) + digest) & DIGEST_MASK

    @staticmethod
    def identity_of(body: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
        by = body["identify_by"]
        email = by.get("identify_by_email")
        return body["uid"], email.lower() if email else None, by.get("identify_by_phone")

    def retry(self, endpoint: str, at: float, kind: str | None) -> None:
        """An SDK tries a request again at ``at`` (epoch) after an attempt that failed with ``kind``:
        counted per endpoint, per kind and on the timeline."""
        self.retries[endpoint] = self.retries.get(endpoint, 0) + 1
        if kind is not None:
            self.retried_kinds[kind] = self.retried_kinds.get(kind, 0) + 1
        piece = self.timeline.setdefault(int(at) // self.timeline_step * self.timeline_step, {})
        piece["retries"] = piece.get("retries", 0) + 1

    def queue_depth(self, at: float, depth: int) -> None:
        """The offline queues' depth at ``at``: the timeline keeps each slice's highest."""
        key = int(at) // self.timeline_step * self.timeline_step
        piece = self.timeline.setdefault(key, {})
        piece["queued"] = max(piece.get("queued", 0), depth)

    def interrupt(self, endpoint: str, digest: int, elapsed: float = 0.0) -> None:
        """A request in flight when the test stopped, for ``elapsed`` seconds: its outcome is unknown."""
        self.interrupted.setdefault(endpoint, []).append(digest)
        self.unfinished.setdefault(endpoint, []).append(round(elapsed, 3))

    def waited(self, endpoint: str, seconds: float) -> None:
        """One attempt ended (answered or failed) after ``seconds``: the longest is kept."""
        if seconds > self.longest_wait.get(endpoint, 0.0):
            self.longest_wait[endpoint] = seconds

    def gauge(self, name: str, at: float, value: float) -> None:
        """A sampled gauge (``inflight``, ``cpu``, ``queued``) at ``at``: each slice keeps its highest."""
        key = int(at) // self.timeline_step * self.timeline_step
        piece = self.timeline.setdefault(key, {})
        if value > piece.get(name, 0):
            piece[name] = value

    def count(self, funnel_stage: str, n: int = 1) -> None:
        self.funnel[funnel_stage] = self.funnel.get(funnel_stage, 0) + n

    def merge(self, other: RunStats) -> None:
        for mine, theirs in ((self.endpoints, other.endpoints), (self.steps, other.steps)):
            for key, series in theirs.items():
                if key in mine:
                    mine[key].merge(series)
                else:
                    mine[key] = series
        self.total.merge(other.total)
        for mine_table, their_table in ((self.errors, other.errors), (self.rejections, other.rejections)):
            for kind, e in their_table.items():
                if kind in mine_table:
                    mine_table[kind]["count"] += e["count"]
                else:
                    mine_table[kind] = dict(e)
        for ep, n in other.accepted.items():
            self.accepted[ep] = self.accepted.get(ep, 0) + n
        for ep, d in other.digests.items():
            self.digests[ep] = (self.digests.get(ep, 0) + d) & DIGEST_MASK
        for ep, ds in other.interrupted.items():
            self.interrupted.setdefault(ep, []).extend(ds)
        for ep, waits in other.unfinished.items():
            self.unfinished.setdefault(ep, []).extend(waits)
        for ep, w in other.longest_wait.items():
            self.waited(ep, w)
        self.identities |= other.identities
        self.interrupted_identities.extend(other.interrupted_identities)
        for ep, n in other.retries.items():
            self.retries[ep] = self.retries.get(ep, 0) + n
        for kind, n in other.retried_kinds.items():
            self.retried_kinds[kind] = self.retried_kinds.get(kind, 0) + n
        for name in _CLIENT_COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self._merge_timeline(other)
        for stage, n in other.funnel.items():
            self.funnel[stage] = self.funnel.get(stage, 0) + n
        self.arrivals += other.arrivals
        self.dropped += other.dropped
        if other.arrival_first:
            self.arrival_first = min(self.arrival_first or other.arrival_first, other.arrival_first)
            self.arrival_last = max(self.arrival_last, other.arrival_last)
        for stage, counts in other.stage_arrivals.items():
            ours = self.stage_arrivals.get(stage, [0, 0, 0])
            self.stage_arrivals[stage] = [a + b for a, b in zip(ours, counts, strict=True)]
        self.sent_bytes += other.sent_bytes
        self.cpu_readings += other.cpu_readings

    def _merge_timeline(self, other: RunStats) -> None:
        step = max(self.timeline_step, other.timeline_step)
        self._coarsen(step)
        # Same slices: another worker's moment, which adds; coarser ones: a longer moment, which peaks.
        across = step == other.timeline_step
        for key, piece in other.timeline.items():
            key = key // step * step
            mine = self.timeline.setdefault(key, {})
            merge_slice(mine, piece, across_workers=across)
        while len(self.timeline) > MAX_SLICES:
            self._coarsen(self.timeline_step * 2)

    def _coarsen(self, step: int) -> None:
        """Slices of ``step`` seconds (a multiple of the current step): long runs keep a bounded timeline."""
        if step == self.timeline_step:
            return
        old, self.timeline, self.timeline_step = self.timeline, {}, step
        for key, piece in old.items():
            merge_slice(self.timeline.setdefault(key // step * step, {}), piece, across_workers=False)

    def take(self) -> RunStats:
        """Everything recorded since the last ``take``, leaving this empty (a worker's report).

        The queue depth of the slice still under way stays here, so that each worker ships each
        slice's depth once and the master can add workers' depths up.
        """
        taken = RunStats()
        taken.__dict__, self.__dict__ = self.__dict__, taken.__dict__
        current = int(time.time()) // taken.timeline_step * taken.timeline_step
        piece = taken.timeline.get(current)
        if piece is not None:
            kept = {name: piece.pop(name) for name in _SAMPLED if name in piece}
            if kept:
                self.timeline[current] = kept
        return taken

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoints": {k: s.to_dict() for k, s in self.endpoints.items()},
            "steps": {k: s.to_dict() for k, s in self.steps.items()},
            "total": self.total.to_dict(),
            "errors": self.errors,
            "rejections": self.rejections,
            # digests as strings: msgpack and JSON both keep them exact that way
            "accepted": self.accepted,
            "digests": {k: str(v) for k, v in self.digests.items()},
            "interrupted": {k: [str(d) for d in v] for k, v in self.interrupted.items()},
            "unfinished": self.unfinished,
            "longest_wait": self.longest_wait,
            "retries": self.retries,
            "retried_kinds": self.retried_kinds,
            "identities": sorted(self.identities, key=lambda i: (i[0], i[1] or "", i[2] or "")),
            "interrupted_identities": self.interrupted_identities,
            **{name: getattr(self, name) for name in _CLIENT_COUNTERS},
            "timeline_step": self.timeline_step,
            # keys as strings: msgpack and JSON maps both take them
            "timeline": {
                str(k): {
                    name: row if name in _GAUGES else [row[0], row[1], {str(b): n for b, n in row[2].items()}]
                    for name, row in piece.items()
                }
                for k, piece in self.timeline.items()
            },
            "funnel": self.funnel,
            "arrivals": self.arrivals,
            "dropped": self.dropped,
            "arrival_first": self.arrival_first,
            "arrival_last": self.arrival_last,
            "stage_arrivals": self.stage_arrivals,
            "sent_bytes": self.sent_bytes,
            "cpu_readings": self.cpu_readings,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunStats:
        s = cls()
        s.endpoints = {k: Series.from_dict(v) for k, v in d["endpoints"].items()}
        s.steps = {k: Series.from_dict(v) for k, v in d["steps"].items()}
        s.total = Series.from_dict(d["total"])
        s.errors = {k: dict(v) for k, v in d["errors"].items()}
        s.rejections = {k: dict(v) for k, v in d.get("rejections", {}).items()}
        s.accepted = dict(d["accepted"])
        s.digests = {k: int(v) for k, v in d["digests"].items()}
        s.interrupted = {k: [int(x) for x in v] for k, v in d.get("interrupted", {}).items()}
        s.unfinished = {k: [float(x) for x in v] for k, v in d.get("unfinished", {}).items()}
        s.longest_wait = {k: float(v) for k, v in d.get("longest_wait", {}).items()}
        # Keys added after the first runs were saved: an older stats.json still renders.
        s.retries = dict(d.get("retries", {}))
        s.retried_kinds = dict(d.get("retried_kinds", {}))
        s.identities = {tuple(x) for x in d.get("identities", [])}
        s.interrupted_identities = [tuple(x) for x in d.get("interrupted_identities", [])]
        for name in _CLIENT_COUNTERS:
            setattr(s, name, int(d.get(name, 0)))
        s.timeline_step = int(d["timeline_step"])
        s.timeline = {
            int(k): {
                name: row if name in _GAUGES else [row[0], row[1], {int(b): n for b, n in row[2].items()}]
                for name, row in piece.items()
            }
            for k, piece in d["timeline"].items()
        }
        s.funnel = dict(d["funnel"])
        s.arrivals, s.dropped, s.sent_bytes = d["arrivals"], d["dropped"], d["sent_bytes"]
        s.arrival_first, s.arrival_last = d["arrival_first"], d["arrival_last"]
        s.stage_arrivals = {k: [int(n) for n in v] for k, v in d.get("stage_arrivals", {}).items()}
        s.cpu_readings = int(d.get("cpu_readings", 0))
        return s


def merge_slice(mine: Slice, theirs: Slice, *, across_workers: bool) -> None:
    """Add a slice's requests, drops and retries into ``mine``. The queue depth is a gauge: the
    depths of several workers at one moment add up; one queue's depths over a longer slice peak."""
    for name, row in theirs.items():
        if name in ("queued", "inflight"):
            mine[name] = mine.get(name, 0) + row if across_workers else max(mine.get(name, 0), row)
            continue
        if name == "cpu":
            mine[name] = max(mine.get(name, 0), row)
            continue
        if name in ("dropped", "retries"):
            mine[name] = mine.get(name, 0) + row
            continue
        acc = mine.get(name)
        if acc is None:
            acc = mine[name] = [0, 0, {}]
        acc[0] += row[0]
        acc[1] += row[1]
        for b, n in row[2].items():
            acc[2][b] = acc[2].get(b, 0) + n
