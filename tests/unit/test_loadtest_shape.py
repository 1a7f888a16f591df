"""Load profiles: the scenario's [load] stages, or the command line's users, rate and run time."""

from __future__ import annotations

import pytest

from simulator.loadtest.shape import LoadProfile
from simulator.scenario import LoadConfig, Stage


def test_profile_follows_stages_and_flags_override_them() -> None:
    load = LoadConfig(users=10, spawn_rate=2, stages=(Stage(duration=60, users=5), Stage(duration=30, users=50)))
    p = LoadProfile.of(load)
    assert p.at(0) == (5, 2, None) and p.at(61) == (50, 2, None) and p.at(90) is None and p.duration == 90
    scaled = LoadProfile.of(load, users=7, run_time=20)  # the stages keep their shape, scaled to fit
    assert scaled.at(0) == (1, 2, None) and scaled.at(19) == (7, 2, None) and scaled.at(20) is None


def test_open_model_pool_starts_whole() -> None:
    p = LoadProfile.of(LoadConfig(model="open", users=40, rate=25, spawn_rate=1, run_time=10))
    assert p.at(0) == (40, 40.0, 25)


FLASH = LoadConfig(
    model="open",
    users=400,
    stages=(Stage(duration=90, rate=5), Stage(duration=120, rate=50), Stage(duration=90, rate=5)),
)


def test_run_time_scales_the_stages_to_fit() -> None:
    """Before: --run-time replaced flash-sale's stages with one flat stage (with no rate)."""
    p = LoadProfile.of(FLASH, run_time=30)
    assert p.duration == pytest.approx(30)
    assert [round(end, 3) for end, *_ in p.stages] == [9.0, 21.0, 30.0]
    assert [rate for *_, rate in p.stages] == [5, 50, 5]  # the flash is still there


def test_users_and_rate_scale_the_stages_keeping_their_shape() -> None:
    p = LoadProfile.of(FLASH, rate=10, users=40)
    assert [rate for *_, rate in p.stages] == [1, 10, 1]  # the peak is the rate asked for
    assert {users for _, users, _, _ in p.stages} == {40}
    closed = LoadConfig(users=10, stages=(Stage(duration=60, users=5), Stage(duration=30, users=50)))
    assert [users for _, users, _, _ in LoadProfile.of(closed, users=10).stages] == [1, 10]


def test_a_run_time_too_short_for_the_stages_says_how_long_in_one_line() -> None:
    with pytest.raises(ValueError, match=r"--run-time 2s .* at least 3s"):
        LoadProfile.of(FLASH, run_time=2)


def test_run_time_scales_the_mocks_timed_faults_with_the_stages() -> None:
    """Before: --run-time scaled the stages but not [target.mock]'s outage or freeze, played at their
    original offsets: outage's 20 s outage at 20 s fell after the end of a 10 s run."""
    from simulator.loadtest.runner import _Outage, mock_flags

    flat = LoadProfile.of(LoadConfig(model="open", rate=6, run_time=75), run_time=10)
    assert flat.stretch == pytest.approx(10 / 75)
    assert LoadProfile.of(FLASH, run_time=30).stretch == pytest.approx(0.1)
    assert LoadProfile.of(FLASH).stretch == 1.0
    outage = _Outage.of({"outage_at": "20s", "outage_for": "20s"}, "http://127.0.0.1:1", stretch=flat.stretch)
    assert outage is not None and (outage.at, outage.length) == pytest.approx((8 / 3, 8 / 3))
    flags = mock_flags({"latency": "5ms", "freeze_at": "30s", "freeze_for": 15}, stretch=0.1)
    assert flags == ["--latency", "5ms", "--freeze-at", "3s", "--freeze-for", "1.5s"]


def test_an_outage_after_the_end_of_the_run_is_refused_before_anything_starts() -> None:
    from simulator.loadtest.runner import RunOptions, check_profile
    from simulator.scenario import ScenarioError, parse_scenario

    # The stretch keeps a window inside the run it scales, so the scenario's own run decides.
    with pytest.raises(ScenarioError, match=r"outage_at: 75s is at or after the end of the 75s run"):
        parse_scenario('extends = "outage"\n[target.mock]\noutage_at = "75s"\n', file="late.toml")
    profile = check_profile(parse_scenario('extends = "outage"\n', file="o.toml"), RunOptions(scenario="o.toml"))
    assert profile is not None and profile.stretch == 1.0


def test_the_planned_rate_is_the_stages_rate_weighted_by_their_time() -> None:
    """The report's target rate, compared with the achieved rate over the run: before, it was the
    first stage's (5/s) against a run that averaged 23/s."""
    p = LoadProfile.of(FLASH, run_time=30)
    assert p.planned_rate(0, 30) == pytest.approx((9 * 5 + 12 * 50 + 9 * 5) / 30)
    assert p.planned_rate(0, 9) == pytest.approx(5) and p.planned_rate(9, 21) == pytest.approx(50)
    assert p.planned_rate(3, 3) is None  # no window, no rate


def test_the_arrivals_follow_a_change_of_stage_within_a_step() -> None:
    """Before: the next arrival was one interval at the current rate away, so a 3/s stage ran a
    third of a second into the 30/s one after it and the run fell under 90% of its plan."""
    from simulator.loadtest.user import ARRIVAL_STEP, advance

    p = LoadProfile.of(LoadConfig(model="open", stages=(Stage(duration=2, rate=3), Stage(duration=2, rate=30))))
    t, need, arrivals = 0.0, 1.0, 0
    for _ in range(10_000):
        rate = p.at(t)
        t, need = advance(t, need, rate[2] or 0.0 if rate else 0.0)
        if t >= 4.0:
            break
        if need == 0.0:
            arrivals, need = arrivals + 1, 1.0
    assert arrivals >= p.planned_arrivals(0, 4) - 30 * ARRIVAL_STEP - 1  # 66 planned; it was 57


def test_each_arrival_is_counted_in_its_stage_and_the_windows_end_at_the_stop() -> None:
    """The report judges each stage on its own seconds: a flash sale's peak, not the run's average."""
    p = LoadProfile.of(FLASH, run_time=30)
    assert [p.stage(t) for t in (0, 8.99, 9, 20.99, 21, 29.99, 45)] == [0, 0, 1, 1, 2, 2, 2]
    assert p.stage_windows(30.4) == [(0, 9), (9, 21), (21, 30.4)]  # the last stage runs on to the stop
    assert p.stage_windows(12) == [(0, 9), (9, 12), (12, 12)]  # stopped in the peak: the rest had no time
