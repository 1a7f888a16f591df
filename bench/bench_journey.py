"""Requests per second the journey engine produces on one core (issue #4's target: >= 200,000).

Bodies are built as dicts, not serialised. "engine" plays devices whose population rows were
materialised beforehand (the engine's own cost); "with population" materialises each device as
the load runner does.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from simulator.journey import JourneyEngine
from simulator.population import Population
from simulator.scenario import load_scenario

DEVICES = 3000
TARGET = 200_000


class _Materialised:
    """A population whose devices and people were built in advance: times the engine alone."""

    def __init__(self, pop: Population) -> None:
        n = len(pop)
        self._devices = [pop.device(i) for i in range(n)]
        self._people = [pop.person(i) for i in range(n)]
        self._uuids = [pop.user_uuid(i) for i in range(n)]
        self._index = [pop.device_index(i) for i in range(n)]
        self._updates = [pop.os_update(i) for i in range(n)]

    def __len__(self) -> int:
        return len(self._devices)

    def device(self, i: int) -> Any:
        return self._devices[i]

    def person(self, i: int) -> Any:
        return self._people[i]

    def user_uuid(self, i: int) -> str:
        return self._uuids[i]

    def device_index(self, i: int) -> int:
        return self._index[i]

    def os_update(self, i: int) -> Any:
        return self._updates[i]


def _rate(engine: JourneyEngine, n: int) -> tuple[float, int]:
    best, count = 0.0, 0
    for _ in range(3):
        started = time.perf_counter()
        count = 0
        for i in range(n):
            for _req in engine.device_life(i):
                count += 1
        best = max(best, count / (time.perf_counter() - started))
    return best, count


def _floor(n: int = 200_000) -> float:
    """The least any engine could do per request on this machine: one event body, one Request, one yield.
    The engine's figures read against it (this shared 2-core box runs Python 2-4x slower than a laptop)."""
    from simulator import payloads
    from simulator.journey import Request

    def gen() -> Any:
        event, headers = payloads.event, {"Content-Type": "application/json"}
        for _ in range(n):
            body = event("app", "uid", "sid", "View Item", "2026-01-01T00:00:00Z", {}, {}, utm=None)
            yield Request("events", "event:View Item", body, 1.0, headers, False, None, 0)

    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        for _req in gen():
            pass
        best = max(best, n / (time.perf_counter() - started))
    return best


def main() -> dict[str, float]:
    figures: dict[str, float] = {"floor_rps": round(_floor())}
    print(f"floor (one body + Request + yield, nothing else): {figures['floor_rps']:,} requests/s")
    print(f"{'scenario':<14} {'requests':>9} {'engine req/s':>13} {'with population':>16}")
    for name in ("ecommerce", "identity", "bad-clients"):
        s = load_scenario(name)
        pop = Population.build(config=dataclasses.replace(s.population, devices=DEVICES), app=s.app, seed=s.seed)
        engine_only, count = _rate(JourneyEngine(scenario=s, population=_Materialised(pop)), DEVICES)  # type: ignore[arg-type]
        end_to_end, _ = _rate(JourneyEngine(scenario=s, population=pop), DEVICES)
        figures[f"{name}_engine_rps"] = round(engine_only)
        figures[f"{name}_with_population_rps"] = round(end_to_end)
        print(f"{name:<14} {count:>9} {engine_only:>13,.0f} {end_to_end:>16,.0f}")
    verdict = "OK" if figures["ecommerce_engine_rps"] >= TARGET else "BELOW TARGET"
    print(f"target {TARGET:,} requests/s (ecommerce, engine): {verdict}")
    return figures


if __name__ == "__main__":
    main()
