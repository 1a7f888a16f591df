"""The scenario's load profile as a Locust ``LoadTestShape``: stages of users (closed) or rate (open)."""

from __future__ import annotations

from dataclasses import dataclass

from locust import LoadTestShape

from simulator.loadtest.state import harness_state
from simulator.scenario import MAX_RATE, LoadConfig

__all__ = ["LoadProfile", "ScenarioShape"]


@dataclass(frozen=True, slots=True)
class LoadProfile:
    """Stages resolved against the command line: (end second, users, spawn rate, target rate)."""

    stages: tuple[tuple[float, int, float, float | None], ...]
    #: How much ``--run-time`` scaled the scenario's time (new run time / the scenario's). Whatever
    #: else the scenario times in its run (the mock's outage and freeze) scales by it too, or a
    #: shortened run would end before its outage, or spend all of itself in one.
    stretch: float = 1.0

    @classmethod
    def of(
        cls, load: LoadConfig, *, users: int | None = None, rate: float | None = None, run_time: float | None = None
    ) -> LoadProfile:
        """The scenario's stages, shaped by the command line: ``run_time`` scales their durations
        to fit, ``users`` and ``rate`` scale their users and rates so that the highest is the one
        asked for. A shortened flash sale still has its flash. Without stages, the flags replace
        the scenario's users, rate and run time.

        In the open model users are a pool waiting for arrivals, so the pool starts whole at once.
        Raises ``ValueError`` (one line, naming the flag) for a run time too short for the stages.
        """
        out: list[tuple[float, int, float, float | None]] = []
        instant = load.model == "open"
        stretch = run_time / load.planned_s if run_time is not None else 1.0
        if load.stages:
            if run_time is not None and run_time < len(load.stages):
                raise ValueError(
                    f"--run-time {run_time:g}s is too short for the {len(load.stages)} stages of the scenario's "
                    f"[load] (each needs a second): give at least {len(load.stages)}s, or drop --run-time "
                    f"for its {load.planned_s:g}s"
                )
            resolved: list[tuple[float, int, float, float | None]] = []
            end = 0.0
            last_users, last_rate = load.users, load.rate
            for s in load.stages:
                end += s.duration * stretch
                last_users = s.users if s.users is not None else last_users
                last_rate = s.rate if s.rate is not None else last_rate
                resolved.append((end, last_users, s.spawn_rate or load.spawn_rate, last_rate))
            top_users = max(u for _, u, _, _ in resolved)
            rates = [r for *_, r in resolved if r is not None]
            user_scale = users / top_users if users is not None else 1.0
            rate_scale = rate / max(rates) if rate is not None and rates else 1.0
            for end, n, spawn, r in resolved:
                n = max(1, round(n * user_scale))
                r = r * rate_scale if r is not None else (rate if rate is not None and not rates else None)
                out.append((end, n, float(n) if instant else spawn, r))
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
        peak = max((r for *_, r in out if r is not None), default=0.0)
        if not peak <= MAX_RATE:  # inf and nan too
            raise ValueError(
                f"a target rate of {peak:g}/s is past the {MAX_RATE:,.0f}/s a run schedules "
                "(--rate, or the scenario's load.rate and stage rates)"
            )
        return cls(tuple(out), stretch)

    @property
    def duration(self) -> float:
        return self.stages[-1][0]

    def planned_arrivals(self, start: float, end: float) -> float:
        """Open model: the arrivals the stages plan from ``start`` to ``end`` seconds (past the last
        stage the arrivals keep its rate, as the scheduler does; a stage without a rate plans none)."""
        total, begin = 0.0, 0.0
        last_rate = 0.0
        for stage_end, _, _, rate in self.stages:
            lo, hi = max(begin, start), min(stage_end, end)
            last_rate = rate or 0.0
            if hi > lo:
                total += (hi - lo) * last_rate
            begin = stage_end
        if end > max(begin, start):
            total += (end - max(begin, start)) * last_rate
        return total

    def planned_rate(self, start: float, end: float) -> float | None:
        """Open model: the stages' arrivals per second from ``start`` to ``end``, each stage weighted
        by its time in the window: what an achieved rate over the same window compares with (the
        first stage's rate is not, in a ramp or a flash sale). None for an empty window."""
        return self.planned_arrivals(start, end) / (end - start) if end > start else None

    def stage(self, elapsed: float) -> int:
        """The index of the stage under way at ``elapsed`` seconds (the last one past the end, whose
        rate the open model's arrivals keep until the stop)."""
        for i, (end, *_) in enumerate(self.stages):
            if elapsed < end:
                return i
        return len(self.stages) - 1

    def stage_windows(self, stop: float) -> list[tuple[float, float]]:
        """Each stage's [start, end) seconds, cut at ``stop``; the last runs on to ``stop``."""
        out, begin, last = [], 0.0, len(self.stages) - 1
        for i, (end, *_) in enumerate(self.stages):
            lo = min(begin, stop)
            out.append((lo, stop if i == last else max(lo, min(end, stop))))
            begin = end
        return out

    def at(self, elapsed: float) -> tuple[int, float, float | None] | None:
        """(users, spawn rate, target rate) at ``elapsed`` seconds, or None when the test is over."""
        for end, users, spawn, rate in self.stages:
            if elapsed < end:
                return users, spawn, rate
        return None


class ScenarioShape(LoadTestShape):
    """Users (and, in the open model, the arrival rate) follow the scenario's ``[load]`` stages."""

    #: The profile reads --users and --run-time (and the web UI's fields): without this Locust warns
    #: that it ignores them, and greys them out in its start form.
    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        if self.runner is None:  # not attached to a runner yet
            return None
        state = harness_state(self.runner.environment)
        profile = state.profile if state is not None else None
        if profile is None:
            return None
        now = profile.at(self.get_run_time())
        return None if now is None else (now[0], now[1])
