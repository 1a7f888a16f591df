"""Durations: one grammar for scenario files, flags and the admin API; a bare number is seconds
unless the caller says a unit is required (a latency spec)."""

from __future__ import annotations

import re

import pytest

from simulator.duration import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        (1.5, 1.5),
        ("45", 45.0),
        ("90s", 90.0),
        ("2m", 120.0),
        ("1m30s", 90.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("250ms", 0.25),
        ("123ms", 0.123),
        ("250us", 0.00025),
        (" 40 ms ", 0.04),
    ],
)
def test_durations_in_every_unit(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "1x", "m", "ms", "-5s", "-5ms", "1m 30", "fast", "1e3ms", True, -1, float("nan")])
def test_bad_durations_say_what_is_expected(bad: str | float) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        ("-5s", "expected a duration of at least 0 seconds"),
        ("- 250ms", "expected a duration of at least 0 seconds"),
        ("+5s", "without the sign: 5s"),
        ("1e3ms", "no exponent: write the number out, as 1000ms"),
        ("2.5E1s", "no exponent: write the number out, as 25s"),
        ("1e1000000s", "no exponent: write the number out"),  # no million digits, and no Decimal overflow
        ("1e-99999999999s", "no exponent: write the number out"),
        ("-abc", "expected a duration such as 250ms"),  # no duration with a sign: what one is
        ("+", "expected a duration such as 250ms"),
    ],
)
def test_a_sign_or_an_exponent_is_named_not_only_refused(bad: str, said: str) -> None:
    """Before, each got the generic "expected a duration such as 250ms ...", which a -5s or 1e3ms
    already looks like: the message says what is wrong with it."""
    with pytest.raises(ValueError, match=re.escape(said)):
        parse_duration(bad)


def test_thousands_of_signs_are_a_bad_duration_not_a_recursion_error() -> None:
    with pytest.raises(ValueError, match="expected a duration such as 250ms"):  # RecursionError before
        parse_duration("-" * 5000 + "5s")


def test_an_exponent_where_a_unit_is_required_suggests_both_units() -> None:
    with pytest.raises(ValueError, match=re.escape("as 1000ms or 1000s")):
        parse_duration("1e3", bare=None)


def test_a_bare_number_is_seconds_unless_a_unit_is_required() -> None:
    assert parse_duration("12") == parse_duration(12) == 12.0
    assert parse_duration("12", bare="ms") == pytest.approx(0.012)
    for bare in ("12", 12, 1.5):
        with pytest.raises(ValueError, match=r"needs a unit: write \S+ms or \S+s"):
            parse_duration(bare, bare=None)
    assert parse_duration("12ms", bare=None) == pytest.approx(0.012)


def test_the_scenario_package_reads_durations_with_the_same_function() -> None:
    from simulator import scenario

    assert scenario.parse_duration is parse_duration
