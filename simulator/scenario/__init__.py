"""Scenario files: one TOML file describes a whole simulated traffic, parsed into frozen dataclasses.

The package along its seams: ``model`` (the dataclasses and vocabularies), ``reader`` (any
dataclass from a TOML table, every problem collected), ``rules`` (the journey graph and the checks
across fields) and ``load`` (files, bundled names, ``extends``). Playing a scenario to check its
bodies (``loadsim validate``) is ``simulator.scenario_check``: it needs the journey engine, which
sits above the model.

The format is documented with an annotated example in ``simulator/scenarios/README.md``.
"""

from __future__ import annotations

from simulator.duration import parse_duration
from simulator.errors import ScenarioError, ScenarioProblem
from simulator.scenario.load import bundled_scenarios, load_scenario, parse_scenario, say_warnings, scenario_dir
from simulator.scenario.model import (
    ACTIONS,
    DEFAULT_EVENT_NAMES,
    FAULT_KINDS,
    MAX_DAYS,
    MAX_DEVICES,
    MAX_QUANTITY,
    MAX_RATE,
    MOCK_FLAGS,
    MOCK_OUTAGE,
    OUTAGE_STATUSES,
    RETRYABLE_ERRORS,
    SEED_MAX,
    SLO_ENDPOINTS,
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
    JourneyState,
    LatencySLO,
    LoadConfig,
    OfflineConfig,
    ReinstallConfig,
    RetryConfig,
    Scenario,
    SLOConfig,
    Stage,
    TargetConfig,
    TimeConfig,
    Transition,
    check_base_url,
    check_seed,
    normal_table,
    step_endpoint,
)

__all__ = [
    "ACTIONS",
    "DEFAULT_EVENT_NAMES",
    "FAULT_KINDS",
    "MAX_DAYS",
    "MAX_DEVICES",
    "MAX_QUANTITY",
    "MAX_RATE",
    "MOCK_FLAGS",
    "MOCK_OUTAGE",
    "OUTAGE_STATUSES",
    "RETRYABLE_ERRORS",
    "SEED_MAX",
    "SLO_ENDPOINTS",
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
    "JourneyState",
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
    "TargetConfig",
    "TimeConfig",
    "Transition",
    "bundled_scenarios",
    "check_base_url",
    "check_seed",
    "load_scenario",
    "normal_table",
    "parse_duration",
    "parse_scenario",
    "say_warnings",
    "scenario_dir",
    "step_endpoint",
]
