"""Load profiles: the scenario's [load] stages, or the command line's users, rate and run time."""

from __future__ import annotations

from simulator.loadtest.shape import LoadProfile
from simulator.scenario import LoadConfig, Stage


def test_profile_follows_stages_and_flags_override_them() -> None:
    load = LoadConfig(users=10, spawn_rate=2, stages=(Stage(duration=60, users=5), Stage(duration=30, users=50)))
    p = LoadProfile.of(load)
    assert p.at(0) == (5, 2, None) and p.at(61) == (50, 2, None) and p.at(90) is None and p.duration == 90
    flat = LoadProfile.of(load, users=7, run_time=20)
    assert flat.at(19) == (7, 2, None) and flat.at(20) is None


def test_open_model_pool_starts_whole() -> None:
    p = LoadProfile.of(LoadConfig(model="open", users=40, rate=25, spawn_rate=1, run_time=10))
    assert p.at(0) == (40, 40.0, 25)
