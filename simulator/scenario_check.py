"""``loadsim validate``: a scenario loaded, then played: its devices' bodies checked against the contract.

It sits above the journey engine (it plays the scenario), so the scenario package never imports it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from simulator import contract
from simulator.journey import JourneyEngine, load_products
from simulator.population import NoDevicesOn, Population
from simulator.scenario import Scenario, ScenarioError, load_scenario, scenario_dir
from simulator.scenario.reader import _Reader, _show, hint

__all__ = ["validate_scenario"]


def validate_scenario(name_or_path: str | Path, *, devices: int = 20) -> Scenario:
    """``load_scenario`` and then play it: build the population, walk ``devices`` device lives and
    check every healthy body against the contract. What ``loadsim validate`` runs."""
    scenario = load_scenario(name_or_path)
    file = scenario.path.name if scenario.path and scenario.path.parent == scenario_dir() else str(scenario.path)
    r = _Reader(file)
    categories = {p.category for p in load_products()}
    for name, state in scenario.journey.states.items():
        for i, c in enumerate(state.categories):
            if c not in categories:
                known = sorted(categories)
                close = hint(c, known, f"the catalogue has {', '.join(known)}")
                r.err(f"journey.states.{name}.categories[{i}]", f"unknown category {_show(c)}; {close}")
    try:
        config = dataclasses.replace(scenario.population, devices=min(devices, scenario.population.devices))
        # As generate builds it: devices and app releases out by the scenario's first day.
        population = Population.build(
            config=config, app=scenario.app, seed=scenario.seed, on=scenario.time.start_date()
        )
    except NoDevicesOn as e:
        r.err("time.start", str(e))
        raise ScenarioError(r.problems) from None
    except ValueError as e:
        # population/ names the field first ("population.att_opt_in must be ..."): use it as the path.
        text = str(e)
        head = text.split(" ", 1)[0].rstrip(":")
        path = head if head.split(".")[0] in ("population", "app") else "population"
        r.err(path, text[len(head) :].lstrip(": ") if path == head else text)
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
