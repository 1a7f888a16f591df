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
Action = Literal["ok", "error", "hold", "reset", "drop"]


class FaultInjector:
    """Draws the fault of each request from one seeded generator."""

    __slots__ = ("active", "config", "first_at", "rng")

    def __init__(self, config: FaultConfig | None = None, *, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.config = FaultConfig()
        self.active = False
        self.first_at: float | None = None
        self.set(config or FaultConfig())

    def set(self, config: FaultConfig) -> None:
        """Apply ``config`` from the next request on. Its freeze window counts from the first request
        after this, as a scenario's outage counts from the load's first: a mock starts before its load
        (by a Locust start-up, or however long a user waits), and a window timed from then may close unseen."""
        self.config = config
        self.active = config.active
        self.first_at = None

    def decide(self, endpoint: str, now: float) -> tuple[Action, float]:
        """The action for one request and the seconds to wait before answering."""
        cfg = self.config
        f = cfg.for_endpoint(endpoint)
        rng = self.rng
        if f.reset_rate and rng.random() < f.reset_rate:
            return "reset", 0.0
        if f.hold_rate and rng.random() < f.hold_rate:
            return "hold", 0.0
        delay = f.latency.sample(rng) if f.latency is not None else 0.0
        if cfg.freeze_at is not None and cfg.freeze_for > 0:
            if self.first_at is None:
                self.first_at = now
            start = self.first_at + cfg.freeze_at
            end = start + cfg.freeze_for
            if start <= now < end:
                delay = max(delay, end - now)
        if f.error_rate and rng.random() < f.error_rate:
            return "error", delay
        if f.drop_rate and rng.random() < f.drop_rate:
            return "drop", delay
        return "ok", delay
