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

__all__ = ["check_start_day", "validate_scenario"]


def check_start_day(scenario: Scenario) -> None:
    """That the scenario's first day has devices to play (the catalogue's, of both platforms, and a
    release of the app out), as the build of its population will ask, without building it: every
    command that plays the scenario checks it before anything starts. ScenarioError names time.start."""
    try:
        Population.check_day(scenario.app, scenario.time.start_date())
    except NoDevicesOn as e:
        r = _Reader(shown_file(scenario.path) if scenario.path else scenario.name)
        r.err("time.start", str(e))
        raise ScenarioError(r.problems) from None


def validate_scenario(name_or_path: str | Path, *, devices: int = 20) -> Scenario:
    """``load_scenario`` and then play it: build the population, walk ``devices`` device lives and
    check every healthy body against the contract. What ``loadsim validate`` runs."""
    scenario = load_scenario(name_or_path)
    # load_scenario checked [population] and [app] as it read them; what the build can still refuse is
    # the day: as generate builds it, devices and app releases out by the scenario's first day.
    check_start_day(scenario)
    file = shown_file(scenario.path) if scenario.path else scenario.name
    r = _Reader(file)
    config = dataclasses.replace(scenario.population, devices=min(devices, scenario.population.devices))
    population = Population.build(config=config, app=scenario.app, seed=scenario.seed, on=scenario.time.start_date())
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
