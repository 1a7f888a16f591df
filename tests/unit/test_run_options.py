"""The run options Locust takes (command line, locust.conf, the web UI's start form), checked by range."""

from __future__ import annotations

import pytest

from simulator.loadtest import webui


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"seed": "-1"}, "seed: must be from 0 to 2147483647, got -1"),
        ({"seed": "99999999999"}, "seed: must be from 0 to 2147483647, got 99999999999"),
    ],
)
def test_the_start_form_refuses_an_option_out_of_range(form: dict[str, str], says: str) -> None:
    """Before: the form took --seed -1 and every user failed in numpy once the test started."""
    assert webui.check_form(form) == says


def test_the_start_form_still_takes_good_values_and_blanks() -> None:
    assert webui.check_form({"seed": "7", "think_scale": "0", "rate": ""}) is None


def test_the_start_form_refuses_a_negative_think_scale() -> None:
    assert webui.check_form({"think_scale": "-1"}) == "think scale: expected a value of at least 0, got -1"
