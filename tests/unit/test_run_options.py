"""The run options Locust takes (command line, locust.conf, the web UI's start form), checked by range."""

from __future__ import annotations

import pytest

from simulator.loadtest import webui


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"seed": "-1"}, "seed: must be from 0 to 2147483647, got -1"),
        ({"seed": "99999999999"}, "seed: must be from 0 to 2147483647, got 99999999999"),
        # Before: a plain float(): 0, -5, nan and inf were taken, and a rate past MAX_RATE failed in
        # the load profile at the test's start, which logged "keeping" and started the test anyway.
        ({"rate": "0"}, "rate: expected a number above 0 and at most 1,000,000 arrivals/s, got 0"),
        ({"rate": "-5"}, "rate: expected a number above 0 and at most 1,000,000 arrivals/s, got -5"),
        ({"rate": "nan"}, "rate: expected a number above 0 and at most 1,000,000 arrivals/s, got nan"),
        ({"rate": "2e6"}, "rate: expected a number above 0 and at most 1,000,000 arrivals/s, got 2e6"),
        ({"rate_cap": "inf"}, "rate cap: expected a finite number above 0, got inf"),
        ({"rate_cap": "0"}, "rate cap: expected a finite number above 0, got 0"),
    ],
)
def test_the_start_form_refuses_an_option_out_of_range(form: dict[str, str], says: str) -> None:
    """Before: the form took --seed -1 and every user failed in numpy once the test started."""
    assert webui.check_form(form) == says


def test_the_start_form_still_takes_good_values_and_blanks() -> None:
    assert webui.check_form({"seed": "7", "think_scale": "0", "rate": ""}) is None


def test_the_start_form_refuses_a_negative_think_scale() -> None:
    assert webui.check_form({"think_scale": "-1"}) == "think scale: expected a value of at least 0, got -1"


@pytest.mark.parametrize(
    "opts",
    [
        {"host": "127.0.0.1:8080"},
        {"host": "127.0.0.1:8080", "web_port": 8089},  # loadsim ui --host
        {"host": "127.0.0.1:8080", "locustfile": "replay"},  # loadsim replay DIR --host
        {"host": "ftp://127.0.0.1:8080"},
    ],
    ids=["run", "ui", "replay", "ftp"],
)
def test_a_host_without_an_http_scheme_is_refused_naming_the_flag(opts: dict[str, object]) -> None:
    """Before: accepted by run, ui and replay alike; every request then failed (gaierror) once the test ran."""
    from simulator.errors import HarnessError
    from simulator.loadtest.runner import RunOptions, check_run_options

    with pytest.raises(HarnessError, match=r"^--host '[^']+': expected a base URL with its scheme, such as http://"):
        check_run_options(RunOptions(scenario="smoke", **opts))  # type: ignore[arg-type]  # a dict of fields
    check_run_options(RunOptions(scenario="smoke", host="http://127.0.0.1:8080"))
    check_run_options(RunOptions(scenario="smoke", host="https://io.v2.customerlabs.co/"))


def test_the_start_form_refuses_a_host_without_a_scheme() -> None:
    assert webui.check_form({"host": "127.0.0.1:8080"}) == (
        "host '127.0.0.1:8080': expected a base URL with its scheme, such as http://127.0.0.1:8080"
    )
    assert webui.check_form({"host": "http://127.0.0.1:8080"}) is None


def test_the_start_form_refuses_an_app_id_the_api_would_refuse_and_keeps_blank_as_the_scenarios() -> None:
    """Before: '   ' or 'my app' was taken and sent as every request's id (each a 400 from the mock)."""
    assert webui.check_form({"app_id": "my app"}) == (
        "app id: expected an app id (1-64 letters, digits, '_', '.', '-'), got 'my app'"
    )
    assert (
        webui.check_form({"app_id": "   "})
        == "app id: expected an app id (1-64 letters, digits, '_', '.', '-'), got '   '"
    )
    assert webui.check_form({"app_id": ""}) is None  # an empty field: as the scenario says
    assert webui.check_form({"app_id": "shop-1.prod"}) is None
