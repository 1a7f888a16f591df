"""Scenario files: one TOML file describes a whole simulated traffic, parsed into frozen dataclasses.

The package along its seams: ``model`` (the dataclasses and vocabularies), ``reader`` (any
dataclass from a TOML table, every problem collected), ``rules`` (the journey graph and the checks
across fields) and ``load`` (files, bundled names, ``extends``). Playing a scenario to check its
bodies (``loadsim validate``) is ``simulator.scenario_check``: it needs the journey engine, which
sits above the model.

The format is documented with an annotated example in ``scenarios/README.md``.
"""

from __future__ import annotations

from simulator.duration import parse_duration
from simulator.scenario.load import bundled_scenarios, load_scenario, parse_scenario, scenario_dir
from simulator.scenario.model import (
    ACTIONS,
    DEFAULT_EVENT_NAMES,
    ENDPOINT_NAMES,
    FAULT_KINDS,
    MOCK_FLAGS,
    MOCK_OUTAGE,
    OUTAGE_STATUSES,
    RETRYABLE_ERRORS,
    USD_RATES,
    AttributionConfig,
    Campaign,
    ClientConfig,
    CommerceConfig,
    Distribution,
    ErrorRateSLO,
    FaultyConfig,
    IdentifyConfig,
    JourneyConfig,
    LatencySLO,
    LoadConfig,
    OfflineConfig,
    ReinstallConfig,
    RetryConfig,
    Scenario,
    ScenarioError,
    ScenarioProblem,
    SLOConfig,
    Stage,
    State,
    TargetConfig,
    TimeConfig,
    Transition,
)

__all__ = [
    "ACTIONS",
    "DEFAULT_EVENT_NAMES",
    "ENDPOINT_NAMES",
    "FAULT_KINDS",
    "MOCK_FLAGS",
    "MOCK_OUTAGE",
    "OUTAGE_STATUSES",
    "RETRYABLE_ERRORS",
    "USD_RATES",
    "AttributionConfig",
    "Campaign",
    "ClientConfig",
    "CommerceConfig",
    "Distribution",
    "ErrorRateSLO",
    "FaultyConfig",
    "IdentifyConfig",
    "JourneyConfig",
    "LatencySLO",
    "LoadConfig",
    "OfflineConfig",
    "ReinstallConfig",
    "RetryConfig",
    "SLOConfig",
    "Scenario",
    "ScenarioError",
    "ScenarioProblem",
    "Stage",
    "State",
    "TargetConfig",
    "TimeConfig",
    "Transition",
    "bundled_scenarios",
    "load_scenario",
    "parse_duration",
    "parse_scenario",
    "scenario_dir",
]
