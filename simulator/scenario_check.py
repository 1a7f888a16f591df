"""``loadsim validate``: a scenario loaded, then played: its devices' bodies checked against the contract.

It sits above the journey engine (it plays the scenario), so the scenario package never imports it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from simulator import contract
from simulator.journey import JourneyEngine
from simulator.population import NoDevicesOn, Population
from simulator.scenario import Scenario, ScenarioError, load_scenario
from simulator.scenario.load import shown_file
from simulator.scenario.reader import _Reader

__all__ = ["validate_scenario"]


def validate_scenario(name_or_path: str | Path, *, devices: int = 20) -> Scenario:
    """``load_scenario`` and then play it: build the population, walk ``devices`` device lives and
    check every healthy body against the contract. What ``loadsim validate`` runs."""
    scenario = load_scenario(name_or_path)
    file = shown_file(scenario.path) if scenario.path else scenario.name
    r = _Reader(file)
    # load_scenario checked [population] and [app] as it read them; what the build can still refuse is
    # the day: as generate builds it, devices and app releases out by the scenario's first day.
    config = dataclasses.replace(scenario.population, devices=min(devices, scenario.population.devices))
    try:
        population = Population.build(
            config=config, app=scenario.app, seed=scenario.seed, on=scenario.time.start_date()
        )
    except NoDevicesOn as e:
        r.err("time.start", str(e))
        raise ScenarioError(r.problems) from None
    engine = JourneyEngine(scenario=scenario, population=population)
    for i in range(len(population)):
        for req in engine.device_life(i):
            if req.faulty:
                continue
            for problem in contract.validate(req.endpoint, req.body):
                r.err("journey", f"device {i} step {req.step} sends an invalid body: {problem}")
                break
            if len(r.problems) >= 10:
                break
    if r.problems:
        raise ScenarioError(r.problems)
    return scenario
