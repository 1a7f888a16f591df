"""Fault injection for the mock collector: the seeded draw of each request's fault.

The grammar of fault specifications (``--latency``, ``--error-rate``, ``PUT /_admin/faults``) is
``simulator.faultspec``, outside this package so that checking a scenario's ``[target.mock]``
does not load the server; its names are re-exported here.
"""

from __future__ import annotations

import random
from typing import Literal

from simulator.faultspec import (
    ERROR_STATUSES,
    EndpointFaults,
    FaultConfig,
    FaultError,
    Latency,
)

__all__ = [
    "ERROR_STATUSES",
    "EndpointFaults",
    "FaultConfig",
    "FaultError",
    "FaultInjector",
    "Latency",
]


#: What the server does with one request: an action and a delay in seconds before the answer.
Action = Literal["ok", "error", "outage", "hold", "reset", "drop"]


class FaultInjector:
    """Draws the fault of each request from one seeded generator."""

    __slots__ = ("active", "config", "first_at", "outage_status", "outage_until", "rng")

    def __init__(self, config: FaultConfig | None = None, *, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.config = FaultConfig()
        self.active = False
        self.first_at: float | None = None
        #: ``time.monotonic()`` when an outage (``outage``) ends, and what it answers until then.
        self.outage_until: float | None = None
        self.outage_status = 503
        self.set(config or FaultConfig())

    def set(self, config: FaultConfig) -> None:
        """Apply ``config`` from the next request on. Its freeze window counts from the first request
        after this, as a scenario's outage counts from the load's first: a mock starts before its load
        (by a Locust start-up, or however long a user waits), and a window timed from then may close unseen."""
        self.config = config
        self.active = config.active or self.outage_until is not None
        self.first_at = None

    def outage(self, status: int, until: float) -> None:
        """Answer ``status`` to every request until ``until``, then the configuration's faults again.
        An overlay, not a configuration: the faults, and a freeze's clock, are as they were after it,
        and it ends by itself, so a harness killed mid-outage cannot leave a mock answering errors."""
        self.outage_status = status
        self.outage_until = until
        self.active = True

    def decide(self, endpoint: str, now: float) -> tuple[Action, float]:
        """The action for one request and the seconds to wait before answering."""
        first = self.first_at
        if first is None:
            first = self.first_at = now  # a freeze counts from here, whatever this request gets
        outage = False
        if self.outage_until is not None:
            outage = now < self.outage_until
            if not outage:
                self.outage_until = None
                self.active = self.config.active
        cfg = self.config
        f = cfg.for_endpoint(endpoint)
        rng = self.rng
        if not outage:  # an outage answers every request, with the mock's latency and freeze as ever
            if f.reset_rate and rng.random() < f.reset_rate:
                return "reset", 0.0
            if f.hold_rate and rng.random() < f.hold_rate:
                return "hold", 0.0
        delay = f.latency.sample(rng) if f.latency is not None else 0.0
        if cfg.freeze_at is not None and cfg.freeze_for > 0:
            start = first + cfg.freeze_at
            end = start + cfg.freeze_for
            if start <= now < end:
                delay = max(delay, end - now)
        if outage:
            return "outage", delay
        if f.error_rate and rng.random() < f.error_rate:
            return "error", delay
        if f.drop_rate and rng.random() < f.drop_rate:
            return "drop", delay
        return "ok", delay
