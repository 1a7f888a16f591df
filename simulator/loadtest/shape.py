"""The scenario's load profile as a Locust ``LoadTestShape``: stages of users (closed) or rate (open)."""

from __future__ import annotations

from dataclasses import dataclass

from locust import LoadTestShape

from simulator.scenario import LoadConfig

__all__ = ["LoadProfile", "ScenarioShape"]


@dataclass(frozen=True, slots=True)
class LoadProfile:
    """Stages resolved against the command line: (end second, users, spawn rate, target rate)."""

    stages: tuple[tuple[float, int, float, float | None], ...]

    @classmethod
    def of(
        cls, load: LoadConfig, *, users: int | None = None, rate: float | None = None, run_time: float | None = None
    ) -> LoadProfile:
        """A flag given on the command line (users, rate, run time) overrides the scenario's stages.

        In the open model users are a pool waiting for arrivals, so the pool starts whole at once.
        """
        out: list[tuple[float, int, float, float | None]] = []
        instant = load.model == "open"
        if load.stages and users is None and rate is None and run_time is None:
            end = 0.0
            last_users, last_rate = load.users, load.rate
            for s in load.stages:
                end += s.duration
                last_users = s.users if s.users is not None else last_users
                last_rate = s.rate if s.rate is not None else last_rate
                spawn = float(last_users) if instant else s.spawn_rate or load.spawn_rate
                out.append((end, last_users, spawn, last_rate))
        else:
            n = users or load.users
            out.append(
                (
                    run_time or load.run_time,
                    n,
                    float(n) if instant else load.spawn_rate,
                    rate if rate is not None else load.rate,
                )
            )
        return cls(tuple(out))

    @property
    def duration(self) -> float:
        return self.stages[-1][0]

    def at(self, elapsed: float) -> tuple[int, float, float | None] | None:
        """(users, spawn rate, target rate) at ``elapsed`` seconds, or None when the test is over."""
        for end, users, spawn, rate in self.stages:
            if elapsed < end:
                return users, spawn, rate
        return None


class ScenarioShape(LoadTestShape):
    """Users (and, in the open model, the arrival rate) follow the scenario's ``[load]`` stages."""

    def tick(self) -> tuple[int, float] | None:
        # Locust gives a shape its runner before the first tick.
        profile: LoadProfile | None = getattr(self.runner.environment, "loadsim_profile", None)  # type: ignore[union-attr]
        if profile is None:
            return None
        now = profile.at(self.get_run_time())
        return None if now is None else (now[0], now[1])
