"""Fault specifications: parsing, errors that say what to write, seeded draws with the asked shape."""

from __future__ import annotations

import math

import pytest

from simulator.mock.faults import EndpointFaults, FaultConfig, FaultError, FaultInjector, Latency


def test_a_latency_needs_a_unit_and_other_fault_durations_are_seconds() -> None:
    with pytest.raises(FaultError, match="cannot read latency '12': write '123ms'"):
        Latency.parse("12")
    assert Latency.parse("12ms") == Latency("fixed", 0.012)
    config = FaultConfig.from_flags(retry_after="10", freeze_at=2, freeze_for="1m")
    assert (config.default.retry_after, config.freeze_at, config.freeze_for) == (10.0, 2.0, 60.0)


@pytest.mark.parametrize("text", ["", "ms", "12", "-5ms", "fast", "1e3ms"])
def test_bad_latencies_say_what_to_write(text: str) -> None:
    with pytest.raises(FaultError, match="latency"):
        Latency.parse(text)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("123ms", Latency("fixed", 0.123)),
        ("uniform:10ms-50ms", Latency("uniform", 0.010, 0.050)),
        ("lognormal:median=40ms,p99=400ms", Latency("lognormal", 0.040, 0.400)),
    ],
)
def test_latency_specs_round_trip(spec: str, expected: Latency) -> None:
    got = Latency.parse(spec)
    assert got == expected
    assert Latency.parse(str(got)) == got


@pytest.mark.parametrize(
    "spec",
    [
        "uniform:50ms",
        "uniform:50ms-10ms",
        "lognormal:median=40ms",
        "lognormal:median=400ms,p99=40ms",
        "normal:1ms",
        "soon",
    ],
)
def test_bad_latency_specs_are_refused_with_a_hint(spec: str) -> None:
    with pytest.raises(FaultError, match="latency"):
        Latency.parse(spec)


def _quantile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def test_lognormal_has_the_asked_median_and_p99() -> None:
    inj = FaultInjector(FaultConfig.from_flags(latency="lognormal:median=40ms,p99=400ms"), seed=3)
    delays = [inj.decide("events", 0.0)[1] for _ in range(40_000)]
    assert _quantile(delays, 0.5) == pytest.approx(0.040, rel=0.05)
    assert _quantile(delays, 0.99) == pytest.approx(0.400, rel=0.12)


def test_uniform_stays_in_its_range_and_fills_it() -> None:
    inj = FaultInjector(FaultConfig.from_flags(latency="uniform:10ms-50ms"), seed=3)
    delays = [inj.decide("identify", 0.0)[1] for _ in range(10_000)]
    assert 0.010 <= min(delays) < 0.0105 and 0.0495 < max(delays) <= 0.050
    assert sum(delays) / len(delays) == pytest.approx(0.030, rel=0.02)


def test_per_endpoint_settings_replace_the_default_for_that_endpoint_only() -> None:
    cfg = FaultConfig.from_flags(
        latency=["5ms", "identify=lognormal:median=40ms,p99=400ms"], error_rate=["events=0.1:429"], retry_after="3"
    )
    assert cfg.for_endpoint("externalIds").latency == Latency("fixed", 0.005)
    assert cfg.for_endpoint("identify").latency == Latency("lognormal", 0.04, 0.4)
    assert cfg.for_endpoint("identify").error_rate == 0
    events = cfg.for_endpoint("events")
    assert (events.latency, events.error_rate, events.error_status, events.retry_after) == (
        Latency("fixed", 0.005),
        0.1,
        429,
        3.0,
    )
    assert FaultConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"error_rate": "1.5"}, "between 0 and 1"),
        ({"error_rate": "0.1:418"}, "error status must be one of 429, 500, 502, 503, 504"),
        ({"error_rate": "lots"}, "RATE\\[:STATUS\\]"),
        ({"latency": "checkout=5ms"}, "unknown endpoint 'checkout'"),
        ({"freeze_at": "10s"}, "needs both --freeze-at"),
        ({"drop_rate": "some"}, "probability"),
    ],
)
def test_bad_flags_say_what_to_write(flags: dict[str, str], message: str) -> None:
    with pytest.raises(FaultError, match=message):
        FaultConfig.from_flags(**flags)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a JSON object"),
        ({"defaults": {}}, "unknown key"),
        ({"default": {"error_rat": 0.1}}, "unknown fault setting"),
        ({"endpoints": {"checkout": {}}}, "endpoints must be an object keyed by"),
        ({"default": {"latency": 5}}, "latency must be a spec string"),
        # Before: read as "no faults" (a falsy value taken for a missing one), 200, the faults reset.
        ({"default": 0}, "default must be an object of fault settings \\(or null: none\\), got 0"),
        ({"default": []}, "default must be an object"),
        ({"endpoints": []}, "endpoints must be an object"),
        ({"endpoints": {"events": 3}}, "endpoints.events must be an object"),
        ({"freeze_for": False}, "freeze_for"),
    ],
)
def test_bad_admin_documents_say_what_is_wrong(data: object, message: str) -> None:
    with pytest.raises(FaultError, match=message):
        FaultConfig.from_dict(data)


def test_error_rate_is_seeded_and_close_to_the_rate() -> None:
    cfg = FaultConfig.from_flags(error_rate="0.2:503")

    def actions(seed: int) -> list[str]:
        inj = FaultInjector(cfg, seed=seed)
        return [inj.decide("events", 0.0)[0] for _ in range(20_000)]

    first = actions(7)
    assert first == actions(7)
    assert first != actions(8)
    share = first.count("error") / len(first)
    # 20,000 draws: the standard error of 0.2 is 0.0028; 4 sigma.
    assert abs(share - 0.2) < 0.012


def test_freeze_window_stalls_until_its_end() -> None:
    """The window counts from the first request the faults see (at 150), not from when they were set."""
    inj = FaultInjector(FaultConfig.from_flags(freeze_at="10", freeze_for="5"))
    assert inj.decide("events", 150.0) == ("ok", 0.0)
    assert inj.decide("events", 159.0) == ("ok", 0.0)
    assert inj.decide("events", 161.0) == ("ok", pytest.approx(4.0))
    assert inj.decide("events", 165.0) == ("ok", 0.0)
    inj.set(FaultConfig.from_flags(freeze_at="0", freeze_for="2"))  # set again: a new clock
    assert inj.decide("events", 180.0) == ("ok", pytest.approx(2.0))


def test_no_fault_configured_is_inactive() -> None:
    assert not FaultConfig().active
    assert not FaultConfig.from_flags().active
    assert FaultConfig.from_flags(drop_rate="0.01").active
    assert EndpointFaults().to_dict()["latency"] is None
    assert math.isclose(FaultConfig.from_flags(hold_rate="events=0.5").for_endpoint("events").hold_rate, 0.5)
