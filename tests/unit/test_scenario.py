"""Scenario files: every bundled one loads, and every kind of mistake is reported at once, named."""

from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path

import pytest

from simulator.population import AppConfig, PopulationConfig
from simulator.scenario import (
    Distribution,
    Scenario,
    ScenarioError,
    bundled_scenarios,
    load_scenario,
    parse_scenario,
    scenario_dir,
)

MINIMAL = """
[journey.states]
home = { action = "event", next = { home = 0.5 } }
"""


def problems(text: str, file: str = "bad.toml") -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, file=file)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("name", [n for n, _ in bundled_scenarios()])
def test_every_bundled_scenario_loads_by_name(name: str) -> None:
    s = load_scenario(name)
    assert s.name == name and s.description and s.path == scenario_dir() / f"{name}.toml"
    j = s.journey
    assert j.start in j.states
    for state in j.states:
        assert sum(t.p for t in j.outgoing(state)) <= 1 + 1e-9


def test_the_issue_lists_six_bundled_scenarios_each_with_a_one_line_description() -> None:
    listed = dict(bundled_scenarios())
    assert {"smoke", "ecommerce", "flash-sale", "soak", "identity", "bad-clients"} <= listed.keys()
    assert all(d and "\n" not in d for d in listed.values())


def test_a_scenario_loads_by_path_too(tmp_path: Path) -> None:
    p = tmp_path / "mine.toml"
    p.write_text("seed = 5\n" + MINIMAL)
    s = load_scenario(p)
    assert s.name == "mine" and s.path == p and s.seed == 5


def test_bundled_scenarios_say_what_they_are_for() -> None:
    flash = load_scenario("flash-sale")
    rates = [st.rate for st in flash.load.stages]
    assert flash.load.model == "open" and max(rates) == 10 * min(rates)  # type: ignore[type-var,operator]
    assert load_scenario("bad-clients").journey.faulty.share == pytest.approx(0.2)
    ident = load_scenario("identity").journey
    assert ident.reinstall.probability > 0 and ident.reinstall.relogin > 0
    soak = load_scenario("soak").load
    assert soak.run_time >= 3600 and len(soak.curve) == 24
    smoke = load_scenario("smoke").load
    assert smoke.run_time <= 60


def test_smoke_inherits_the_ecommerce_journey_and_overrides_only_what_it_says() -> None:
    smoke, base = load_scenario("smoke"), load_scenario("ecommerce")
    assert smoke.journey == base.journey
    assert smoke.population.devices == 500 and base.population.devices == 5000
    assert [e.max for e in smoke.slo.error_rate] == [0.0]  # arrays replace, tables merge
    assert smoke.slo.latency == base.slo.latency


def test_app_and_population_become_the_population_dataclasses() -> None:
    s = parse_scenario(
        MINIMAL
        + """
[app]
app_id = "my-app"
user_id_separator = "_"
releases = [{version = "1.0.0", build = 100}, {version = "1.1.0", build = 110}]
[population]
devices = 12
countries = {US = 2, IN = 1}
att_opt_in = 0.4
"""
    )
    assert isinstance(s.app, AppConfig) and isinstance(s.population, PopulationConfig)
    assert s.app.app_id == "my-app" and s.app.user_id_separator == "_"
    assert [r.build for r in s.app.releases] == [100, 110]
    assert s.population.devices == 12 and s.population.countries == {"US": 2, "IN": 1}
    assert s.population.att_opt_in == 0.4


def test_a_new_population_field_is_a_scenario_option_without_changes() -> None:
    fields = {f.name for f in dataclasses.fields(PopulationConfig)}
    assert fields  # whatever population/config.py defines is accepted: set each to its default
    defaults = PopulationConfig()
    lines = []
    for name in fields:
        value = getattr(defaults, name)
        if isinstance(value, bool | int | float | str):
            lines.append(f"{name} = {str(value).lower() if isinstance(value, bool) else repr(value)}")
    s = parse_scenario(MINIMAL + "[population]\n" + "\n".join(lines))
    assert s.population == defaults


def test_defaults_make_a_minimal_scenario_runnable() -> None:
    s = parse_scenario(MINIMAL, file="mini.toml")
    assert isinstance(s, Scenario)
    assert s.name == "mini" and s.seed == 0 and s.load.model == "closed" and s.target.kind == "mock"
    assert s.journey.start == "home" and s.journey.states["home"].action == "event"


def test_load_slo_and_target_tables() -> None:
    s = parse_scenario(
        MINIMAL
        + """
[load]
model = "open"
rate = 40
rate_unit = "requests"
users = 100
run_time = "2m30s"
spawn_rate = 20
stages = [{duration = "1m", rate = 10}, {duration = "90s", rate = 40}]
[slo]
min_rate = 35
max_dropped = 0
reconciliation = true
latency = [{endpoint = "events", percentile = 99, max_ms = 200},
           {step = "event:Screen View", percentile = 99.9, max_ms = 500, metric = "service_time"}]
error_rate = [{endpoint = "total", max = 0.01}]
[target]
kind = "customerlabs"
webhook_url_env = "CL_WEBHOOK"
rate_cap = 10
confirm = true
"""
    )
    assert s.load.run_time == 150 and [st.duration for st in s.load.stages] == [60, 90]
    assert s.load.rate == 40 and s.load.rate_unit == "requests"
    assert s.slo.latency[0].endpoint == "events" and s.slo.latency[1].step == "event:Screen View"
    assert s.slo.latency[1].metric == "service_time" and s.slo.error_rate[0].max == 0.01
    assert s.slo.max_dropped == 0 and s.slo.reconciliation
    assert s.target.kind == "customerlabs" and s.target.rate_cap == 10 and s.target.confirm


def test_every_kind_of_mistake_is_reported_at_once_with_file_and_path() -> None:
    found = problems("""
seed = -1
colour = "blue"
[app]
releases = [{version = "1.0", build = "x"}]
[population]
devics = 10
att_opt_in = 1.5
[journey]
start = "hom"
sessions = "geometrc(3)"
session_timeout = "half an hour"
[journey.states]
home = { action = "evnt" }
cart = { action = "add_to_cart", colour = 1, next = { crt = 0.5 } }
shop = { action = "view_item", next = { home = 0.7, cart = 0.6 } }
[journey.identify]
email = 2
[[journey.transitions]]
from = "home"
to = "cart"
p = "often"
[load]
model = "opne"
run_time = "3 minutes"
[slo]
latency = [{endpoint = "event", percentile = 101, max_ms = 10}]
[target]
kind = "customerlabs"
""")
    expected = [
        "bad.toml: seed: expected an integer from 0 to 2147483647, got -1",
        "bad.toml: colour: unknown key; expected one of",
        'bad.toml: app.releases[0].build: expected an integer, got "x"',
        "bad.toml: population.devics: unknown key; did you mean 'devices'?",
        "bad.toml: population.att_opt_in: expected a probability between 0 and 1, got 1.5",
        "bad.toml: journey.start: unknown state \"hom\"; did you mean 'home'?",
        "bad.toml: journey.sessions: unknown distribution \"geometrc\"; did you mean 'geometric'?",
        'bad.toml: journey.session_timeout: expected a duration such as 250ms, 30s, 1m30s or 2h, got "half an hour"',
        "bad.toml: journey.states.home.action: unknown action \"evnt\"; did you mean 'event'?",
        "bad.toml: journey.states.cart.colour: unknown key",
        "bad.toml: journey.states.cart.next.crt: unknown state \"crt\"; did you mean 'cart'?",
        'bad.toml: journey.transitions: transitions from "shop" sum to 1.3; at most 1',
        "bad.toml: journey.identify.email: expected a probability between 0 and 1, got 2",
        'bad.toml: journey.transitions[0].p: expected a number, got "often"',
        'bad.toml: load.model: expected "closed" or "open", got "opne"',
        "bad.toml: load.run_time: expected a duration",
        "bad.toml: slo.latency[0].percentile: expected a percentile in (0, 100]",
        'bad.toml: target.webhook_url: required when kind = "customerlabs"',
        'bad.toml: target.rate_cap: required when kind = "customerlabs"',
    ]
    for want in expected:
        assert any(line.startswith(want) for line in found), f"missing {want!r} in:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("[journey]\nstart = 'a'", "journey.states: required"),
        ("x = 1\n" + MINIMAL, "x: unknown key"),
        (MINIMAL + "[load]\nmodel = 'open'", 'load.rate: required when model = "open"'),
        (MINIMAL + "[load]\nstages = [{duration = '1m'}]", "load.stages[0]: expected users"),
        # Before: accepted, and a run at it spun without yielding (no run time, no Ctrl-C, no report).
        (MINIMAL + "[load]\nmodel = 'open'\nrate = 1e308", "load.rate: expected at most 1,000,000 arrivals"),
        (MINIMAL + "[load]\nstages = [{duration = '1m', rate = 2e6}]", "load.stages[0].rate: expected at most"),
        (
            MINIMAL + "[slo]\nlatency = [{endpoint = 'evnts', percentile = 99, max_ms = 1}]",
            "slo.latency[0].endpoint: unknown endpoint \"evnts\"; did you mean 'events'?",
        ),
        (MINIMAL + "[slo]\nlatency = [{endpoint = 'events', max_ms = 1}]", "slo.latency[0].percentile: required"),
        (MINIMAL + "[journey.faulty]\nkinds = ['missing_sdi']", "did you mean 'missing_sid'?"),
        (MINIMAL + "[journey.event_names]\npurchse = 'Buy'", "journey.event_names.purchse: unknown key; did you mean"),
        (MINIMAL + "[journey.commerce]\ncoupons = {BIG = 1.5}", "journey.commerce.coupons.BIG: expected a discount"),
        (MINIMAL + "[journey]\nthink = 'lognormal(2s)'", "journey.think: lognormal() takes 2 argument(s)"),
        (MINIMAL + "[journey]\nthink = {dist = 'uniform', min = '5s', max = '1s'}", "journey.think: min 5 is greater"),
        (MINIMAL + "[journey]\nsessions = 'geometric(0.5)'", "journey.sessions.mean: a geometric count"),
        (MINIMAL + "[target]\nhost = 'localhost:80'", "target.host: expected a base URL"),
        # Before: accepted; a day's installs times it were inf, and every install fell on the last day.
        (
            MINIMAL + "[[time.campaigns]]\nday = 1\nname = 's'\ninstalls = 1e308",
            "time.campaigns[0].installs: expected a factor of at most 6.1e+300 (a day's installs times it "
            "must stay a float), got 1e+308",
        ),
        (MINIMAL + "[time]\ninstall_growth = 1e200", "time.install_growth: 1e+200 a day over time.days 7 grows"),
        # Before: accepted; generate said "--start 9999-12-01 and --days 60", flags never given.
        (
            MINIMAL + "[time]\nstart = '9999-12-01'\ndays = 60",
            "time.days: 60 days from time.start 9999-12-01 run past the year 9999: at most 29 days from that start",
        ),
        # Before: accepted; generate never ended (each thinning draw too small a step to move the clock).
        (
            MINIMAL + "[[time.campaigns]]\nday = 1\nname = 's'\nsessions = 1e308",
            "time.campaigns[0].sessions: expected a factor of at most 1,000 (each returning session costs "
            "about that many draws), got 1e+308",
        ),
        # Before: accepted; every device installed on the last day and none came back.
        (
            MINIMAL + "[time]\nstart = '2026-01-03'\ndays = 2\nweekly = [1, 1, 1, 1, 1, 0, 0]",
            "time.weekly: the 2 days from time.start 2026-01-03 (Saturday, Sunday) all have a weight of 0: "
            "no device could install or come back; give one of them a weight above 0, or span more days",
        ),
        # Before: accepted; generate ran out of memory (a UTC offset per hour per zone, every day).
        (
            MINIMAL + "[time]\ndays = 2900000\ninstall_growth = 0.0",
            "time.days: expected at most 36,525 days (100 years) a dataset spans, got 2,900,000",
        ),
        ("journey = 3", "journey: expected a table, got 3"),
        ("[journey\n", "not valid TOML"),
        ("extends = 'ecommerc'\n", "extends: no such scenario file or bundled name; did you mean 'ecommerce'?"),
    ],
)
def test_each_mistake_names_its_field(text: str, want: str) -> None:
    found = problems(text)
    assert any(want in line for line in found), "\n".join(found)
    assert all(line.startswith("bad.toml: ") for line in found)


def test_a_week_of_zero_weights_is_one_problem() -> None:
    """Before: also "the 7 days ... all have a weight of 0 ... or span more days", advice that cannot help."""
    found = problems(MINIMAL + "[time]\nweekly = [0, 0, 0, 0, 0, 0, 0]")
    assert found == ["bad.toml: time.weekly: expected at least one weight above 0"]


def test_the_file_is_named_by_load_scenario(tmp_path: Path) -> None:
    p = tmp_path / "typo.toml"
    p.write_text(MINIMAL + "[population]\ndevics = 1\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(p)
    assert str(info.value) == f"{p}: population.devics: unknown key; did you mean 'devices'?"


def test_an_unknown_name_suggests_a_bundled_one() -> None:
    with pytest.raises(ScenarioError, match="did you mean 'smoke'"):
        load_scenario("smoek")


def test_extends_loops_are_caught(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    with pytest.raises(ScenarioError, match="loop"):
        load_scenario(tmp_path / "a.toml")


@pytest.mark.parametrize(
    ("spec", "mean"),
    [
        ("constant(2s)", 2.0),
        ("exp(5s)", 5.0),
        ("uniform(1s, 3s)", 2.0),
        ("geometric(3)", 3.0),
        ("lognormal(4s, 0.5)", 4 * math.exp(0.125)),
        ({"dist": "exponential", "mean": "1m"}, 60.0),
    ],
)
def test_distributions_sample_their_configured_mean(spec: str | dict[str, str], mean: float) -> None:
    value = f'"{spec}"' if isinstance(spec, str) else "{" + ", ".join(f'{k} = "{v}"' for k, v in spec.items()) + "}"
    s = parse_scenario(MINIMAL + f"[journey]\nthink = {value}\n")
    d = s.journey.think
    assert isinstance(d, Distribution) and d.mean == pytest.approx(mean)
    rnd = random.Random(3)
    draws = [d.sample(rnd) for _ in range(20_000)]
    assert sum(draws) / len(draws) == pytest.approx(mean, rel=0.05)
    assert min(draws) >= 0


def test_loadsim_validate_passes_every_bundled_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.cli import main

    names = [n for n, _ in bundled_scenarios()]
    assert main(["validate", *names]) == 0
    assert capsys.readouterr().out.count("ok: ") == len(names)


def test_loadsim_validate_reports_every_problem_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text(MINIMAL.replace('"event"', '"evnt"') + "[population]\ndevics = 3\n")
    code = main(["validate", "smoke", str(bad), "no-such-scenario"])
    out = capsys.readouterr().out
    assert code == 1
    assert "ok: " in out and f"{bad}: population.devics: unknown key; did you mean 'devices'?" in out
    assert f"{bad}: journey.states.home.action: unknown action \"evnt\"; did you mean 'event'?" in out
    assert "no-such-scenario: no such scenario file or bundled name" in out


def test_a_scenario_path_that_is_no_file_is_named_as_what_it_is(tmp_path: Path) -> None:
    """Before: a folder (or /dev/null) given as a scenario was "no such scenario file or bundled name",
    though it is there."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for path, said in ((folder, "is a folder, not a scenario file"), (Path("/dev/null"), "is not a scenario file")):
        with pytest.raises(ScenarioError) as info:
            load_scenario(str(path))
        assert str(info.value) == f"{path}: {said} (a TOML file, or a bundled name)", str(info.value)


def test_loadsim_validate_plays_the_scenario_against_the_population_and_contract(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from simulator.cli import main

    p = tmp_path / "deep.toml"
    p.write_text(
        MINIMAL.replace('action = "event"', 'action = "view_item", categories = ["shoe"]')
        + "[population]\ncountries = {ZZ = 1}\n"
    )
    assert main(["validate", str(p)]) == 1
    out = capsys.readouterr().out
    assert "journey.states.home.categories[0]: unknown category \"shoe\"; did you mean 'shoes'?" in out
    assert "population" in out and "ZZ" in out


def test_loadsim_scenarios_lists_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.cli import main

    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [n for n, _ in bundled_scenarios()]
    assert all(len(line.split(None, 1)) == 2 for line in lines)


def test_the_annotated_example_in_the_readme_is_a_valid_scenario() -> None:
    text = (scenario_dir() / "README.md").read_text()
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    s = parse_scenario(example, file="README.md")
    assert s.name == "my-shop" and s.seed == 42 and s.population.devices == 5000
    assert s.journey.event_names["purchase"] == "Order Completed"
    assert s.load.stages[1].spawn_rate == 5 and s.slo.latency[1].step == "event:Order Completed"
    assert s.journey.commerce.usd_rates == {"INR": 83.3, "EUR": 0.92}


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (MINIMAL + "[population]\ndevices = 0", "bad.toml: population.devices: expected a value greater than 0, got 0"),
        (
            MINIMAL + "[population]\ndevices = -3",
            "bad.toml: population.devices: expected a value greater than 0, got -3",
        ),
        (
            MINIMAL + "[[slo.latency]]\nstep = 'event:Nope'\npercentile = 95\nmax_ms = 300",
            'bad.toml: slo.latency[0].step: unknown step "event:Nope"; the journey sends externalIds, '
            "event:Screen View",
        ),
        (
            MINIMAL + "[[slo.error_rate]]\nstep = 'event:Screen Veiw'\nmax = 0.1",
            "bad.toml: slo.error_rate[0].step: unknown step \"event:Screen Veiw\"; did you mean 'event:Screen View'?",
        ),
        (
            MINIMAL + "[[slo.error_rate]]\nstep = 'identify'\nmax = 0.1",
            'bad.toml: slo.error_rate[0].step: unknown step "identify"',  # no state identifies: never sent
        ),
        (
            MINIMAL + "[load]\nrun_time = '1m'\n[target.mock]\noutage_at = '90s'\noutage_for = '10s'",
            "bad.toml: target.mock.outage_at: 90s is at or after the end of the 60s run ([load]): move it into the run",
        ),
        (
            # Before: accepted, and the run's report read as one that went through a freeze it never met.
            MINIMAL + "[load]\nrun_time = '1m'\n[target.mock]\nfreeze_at = '60s'\nfreeze_for = '5s'",
            "bad.toml: target.mock.freeze_at: 60s is at or after the end of the 60s run ([load]): move it into the run",
        ),
        (
            # Before: accepted, then the mock refused the outage mid-run and the run went on without it.
            MINIMAL + "[load]\nrun_time = '3h'\n[target.mock]\noutage_at = '90s'\noutage_for = '2h'",
            'bad.toml: target.mock.outage_for: an outage lasts at most 3600 s (the mock\'s limit), got "2h"',
        ),
    ],
    ids=[
        "no-devices",
        "negative-devices",
        "unknown-step",
        "misspelt-step",
        "identify-never-sent",
        "outage-after-end",
        "freeze-after-end",
        "outage-too-long",
    ],
)
def test_a_scenario_that_cannot_be_measured_is_refused(text: str, want: str) -> None:
    """Before: accepted by loadsim validate and run alike; no device means no traffic, and an SLO
    on a step the journey never sends fails every run with 'no requests'."""
    assert any(line.startswith(want) for line in problems(text)), "\n".join(problems(text))


def test_a_freeze_of_no_length_after_the_run_is_no_freeze_and_is_accepted() -> None:
    text = MINIMAL + "[load]\nrun_time = '1m'\n[target.mock]\nfreeze_at = '90s'\nfreeze_for = '0s'"
    assert parse_scenario(text, file="good.toml").target.mock["freeze_at"] == "90s"


def test_the_slo_may_name_every_step_the_journey_sends() -> None:
    text = MINIMAL.replace(
        "home = {",
        "login = { action = 'identify', next = { buy = 0.5 } }\n"
        "buy = { action = 'purchase', event = 'Buy', next = { home = 0.5 } }\nhome = {",
    )
    text += "[[slo.latency]]\nstep = 'event:Buy'\npercentile = 95\nmax_ms = 300\n"
    text += "[[slo.error_rate]]\nstep = 'identify'\nmax = 0.1\n[[slo.error_rate]]\nstep = 'externalIds'\nmax = 0.1\n"
    assert parse_scenario(text, file="good.toml").warnings == ()


def test_validate_names_the_file_the_field_and_the_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.cli import main

    (tmp_path / "zero.toml").write_text('extends = "smoke"\n[population]\ndevices = 0\n')
    (tmp_path / "nope.toml").write_text(
        'extends = "smoke"\n[[slo.latency]]\nstep = "event:Nope"\npercentile = 95\nmax_ms = 300\n'
    )
    assert main(["validate", str(tmp_path / "zero.toml"), str(tmp_path / "nope.toml")]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'zero.toml'}: population.devices: expected a value greater than 0, got 0" in out, out
    assert f'{tmp_path / "nope.toml"}: slo.latency[0].step: unknown step "event:Nope"' in out, out


def test_every_problem_of_the_mock_table_names_its_key_and_value() -> None:
    """Before: "bad.toml: target.mock: cannot read error rate 'abc' ...", the first problem alone, no key;
    freeze_at alone: "target.mock: a freeze needs both --freeze-at T and --freeze-for T", flags the
    scenario does not have; and none of them at all beside any other problem of the file."""
    said = problems(
        MINIMAL
        + "[population]\ndevices = 0\n"
        + '[target.mock]\nlatency = "fast"\nerror_rate = "abc"\nhold_rate = 2\nfreeze_at = "soon"\n'
    )
    text = "\n".join(said)
    assert any(line.startswith("bad.toml: population.devices:") for line in said), text
    for key, value in (("latency", "fast"), ("error_rate", "abc"), ("hold_rate", "2"), ("freeze_at", "soon")):
        assert any(line.startswith(f"bad.toml: target.mock.{key}:") and value in line for line in said), (key, text)
    assert "bad.toml: target.mock: a freeze needs both freeze_at and freeze_for" in said, text


# One thing changed in the bundled ecommerce scenario: what every command that loads it says.
BROKEN: list[tuple[str, str, str]] = [
    # Before: only validate (and partly generate) checked [population] and [app]: run --dry-run passed,
    # sample died of a ValueError traceback, run started the mock and Locust and FAILED on no requests.
    (
        "release-decay-0",
        "[population]\nrelease_decay = 0",
        "bad.toml: population.release_decay: expected a value in (0, 1] (each release is installed this many "
        "times as often as the next newer one), got 0.0",
    ),
    (
        "countries-zero",
        "[population]\ncountries = {US = 0}",
        "bad.toml: population.countries: expected at least one weight above 0",
    ),
    (
        "country-lower-case",
        "[population]\ncountries = {us = 1}",
        "bad.toml: population.countries.us: unknown country \"us\"; did you mean 'US'? (codes are upper case)",
    ),
    (
        "country-unknown",
        "[population]\ncountries = {US = 1, XX = 2}",
        'bad.toml: population.countries.XX: unknown country "XX"; the catalogue has IN, US, BR, GB, DE, JP, CA, '
        "AU, SE, IE (add it to simulator/catalog/*.csv)",
    ),
    (
        "ios-share-country-unknown",
        "[population]\nios_share = {ZZ = 0.5}",
        'bad.toml: population.ios_share.ZZ: unknown country "ZZ"; the catalogue has',
    ),
    ("no-releases", "[app]\nreleases = []", "bad.toml: app.releases: expected at least one release, oldest first"),
    (
        "release-date",
        '[app]\nreleases = [{version = "1.0", build = 1, released = "2025-13-01"}]',
        'bad.toml: app.releases[0].released: expected an ISO date such as "2025-11-17", got "2025-13-01"',
    ),
    # Before: validate said so; run --dry-run and sample passed, and generate wrote bodies with
    # "product_quantity":64672807998 counted healthy.
    (
        "max-quantity-past-the-api",
        "[journey.commerce]\nmax_quantity = 100000000000",
        "bad.toml: journey.commerce.max_quantity: expected at most 100,000 (the API's limit on a product's "
        "product_quantity), got 100000000000",
    ),
    # Before: validate and run --dry-run exit 0; run died of numpy's "Unable to allocate 710. GiB",
    # FAILED exit 1; generate named --users, a flag never passed.
    (
        "devices-past-what-a-run-builds",
        "[population]\ndevices = 100000000000",
        "bad.toml: population.devices: expected at most 10,000,000 devices (each load-test process builds "
        "them all, about 200 bytes a device), got 100000000000",
    ),
    # Before: the table form reached the engine: OverflowError tracebacks (validate, generate, sample);
    # the text form "lognormal(30s, 1e300)" was "expected a number", though 1e300 is one.
    (
        "sigma-huge-table",
        '[journey]\nthink = {dist = "lognormal", median = "30s", sigma = 1e300}',
        "bad.toml: journey.think: lognormal(30s, 1e+300) draws up to more than a float holds; a duration is at "
        "most 36,525 days (100 years): make it smaller, or clamp it with max",
    ),
    (
        "sigma-huge-text",
        '[journey]\nthink = "lognormal(30s, 1e300)"',
        "bad.toml: journey.think: lognormal(30s, 1e+300) draws up to more than a float holds; a duration is at "
        "most 36,525 days (100 years)",
    ),
    (
        "constant-huge",
        '[journey]\nthink = {dist = "constant", value = 1e308}',
        "bad.toml: journey.think: constant(1e+308s) draws up to 1.16e+303 days; a duration is at most 36,525 days",
    ),
    (
        "gap-huge",
        "[journey]\nsession_gap = 1e308",
        "bad.toml: journey.session_gap: constant(1e+308s) draws up to 1.16e+303 days; a duration is at most",
    ),
    # Before: 'expected a number or a duration such as 2s, got "-0.8"': it is a number, of the wrong sign.
    (
        "sigma-negative",
        '[journey]\nthink = "lognormal(30s, -0.8)"',
        "bad.toml: journey.think.sigma: expected a sigma of at least 0, got -0.8",
    ),
    # Before: "journey.think.value: expected a number or a duration", a path the file does not have.
    (
        "unclosed",
        '[journey]\nthink = "lognormal(30s, 0.8"',
        'bad.toml: journey.think: "lognormal(30s, 0.8" is not closed: expected ")" at its end',
    ),
    # Before: accepted as 1 session a device (max(1, ...)).
    (
        "sessions-zero",
        '[journey]\nsessions = "constant(0)"',
        "bad.toml: journey.sessions.value: expected a count of at least 1, got 0",
    ),
    # Before: accepted, a median of 10,800 sessions.
    (
        "sessions-with-a-unit",
        '[journey]\nsessions = "lognormal(3h, 1.7)"',
        'bad.toml: journey.sessions.median: a count takes no unit: expected a number such as 3, got "3h"',
    ),
    # Before: "expected a number", though 1e12 is one.
    (
        "sessions-huge",
        '[journey]\nsessions = "constant(1e12)"',
        "bad.toml: journey.sessions: constant(1e+12) draws up to 1,000,000,000,000; a count is at most 100,000: "
        "make it smaller, or clamp it with max",
    ),
    # Before: accepted everywhere: a price of 0 units a dollar.
    (
        "usd-rate-zero",
        "[journey.commerce]\nusd_rates = {EUR = 0}",
        "bad.toml: journey.commerce.usd_rates.EUR: expected an exchange rate above 0 (local currency units per "
        "US dollar), got 0.0",
    ),
    # Before: "expected a weight of at least 0": it is an exchange rate, not a weight.
    (
        "usd-rate-negative",
        "[journey.commerce]\nusd_rates = {EUR = -1}",
        "bad.toml: journey.commerce.usd_rates.EUR: expected an exchange rate above 0 (local currency units per "
        "US dollar), got -1.0",
    ),
    # Before: validate said so; run, generate and sample drew from every product instead.
    (
        "category-unknown",
        '[journey.states.search]\ncategories = ["shoez"]',
        "bad.toml: journey.states.search.categories[0]: unknown category \"shoez\"; did you mean 'shoes'?",
    ),
]


@pytest.mark.parametrize(("change", "said"), [(c, s) for _, c, s in BROKEN], ids=[i for i, _, _ in BROKEN])
def test_a_broken_scenario_is_refused_as_it_loads_with_file_field_and_value(change: str, said: str) -> None:
    found = problems(f'extends = "ecommerce"\n{change}\n')
    assert any(line.startswith(said) for line in found), "\n".join(found)


def test_generate_names_the_scenarios_devices_by_their_field_not_by_a_flag(tmp_path: Path) -> None:
    """Before: "--users 268,435,457 is past the 268,435,456 devices a dataset holds", though no --users
    was given: the value was the scenario's."""
    from simulator.dataset import generate
    from simulator.dataset.layout import OptionError

    base = load_scenario("smoke")
    huge = dataclasses.replace(base, population=dataclasses.replace(base.population, devices=2**28 + 1))
    with pytest.raises(OptionError) as info:
        generate(huge, out=tmp_path / "d", days=1, quiet=True)
    assert str(info.value).startswith(
        "population.devices 268,435,457 (in smoke) is past the 268,435,456 devices a dataset holds"
    ), info.value
    assert "--users" not in str(info.value).split(":")[0]
    assert not (tmp_path / "d").exists()


def test_a_state_nothing_leads_to_is_a_warning_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: accepted in silence by every command: the state never plays. A warning, not an error: a
    scenario that extends another cannot delete the parent's states (tables merge), only set a
    transition's p to 0, which leaves the state behind."""
    from simulator.cli import main

    p = tmp_path / "orphan.toml"
    p.write_text('extends = "ecommerce"\n[journey.states.orphan]\naction = "event"\nevent = "Orphan"\n')
    said = (
        f"{p}: journey.states.orphan: warning: unreachable: no transition with p above 0 leads to it from the "
        'start state "launch", so it never plays'
    )
    assert [str(w) for w in load_scenario(p).warnings] == [said]
    assert main(["validate", str(p)]) == 0
    assert said in capsys.readouterr().out
    assert main(["sample", "--scenario", str(p)]) == 0
    assert f"loadsim: {said}" in capsys.readouterr().err
    assert load_scenario("ecommerce").warnings == ()


#: ecommerce with no way into purchase (checkout's and login's transitions to it at p 0).
_NO_PURCHASE = "[journey.states.checkout.next]\npurchase = 0\n[journey.states.login.next]\npurchase = 0\n"
#: ecommerce with no way into login (home's and checkout's transitions to it at p 0).
_NO_LOGIN = "[journey.states.home.next]\nlogin = 0\n[journey.states.checkout.next]\nlogin = 0\n"
_UNREACHED = 'no transition with p above 0 leads to it from the start state "launch"'
_NOTHING = "the SLO would have no request to judge, and fail every run"


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            _NO_PURCHASE + '[[slo.latency]]\nstep = "event:Purchase"\npercentile = 95\nmax_ms = 500',
            f'bad.toml: slo.latency[0].step: "event:Purchase" is sent only by unreachable state purchase '
            f"({_UNREACHED}): {_NOTHING}",
        ),
        (
            _NO_PURCHASE + '[[slo.error_rate]]\nstep = "event:Purchase"\nmax = 0.01',
            f'bad.toml: slo.error_rate[0].step: "event:Purchase" is sent only by unreachable state purchase '
            f"({_UNREACHED}): {_NOTHING}",
        ),
        (
            _NO_LOGIN + '[[slo.error_rate]]\nendpoint = "identify"\nmax = 0.01',
            f'bad.toml: slo.error_rate[0].endpoint: "identify" is sent only by unreachable state login '
            f"({_UNREACHED}): {_NOTHING}",
        ),
        (
            _NO_LOGIN + '[[slo.latency]]\nendpoint = "identify"\npercentile = 99\nmax_ms = 900',
            f'bad.toml: slo.latency[0].endpoint: "identify" is sent only by unreachable state login '
            f"({_UNREACHED}): {_NOTHING}",
        ),
    ],
    ids=["latency-step", "error-rate-step", "error-rate-endpoint", "latency-endpoint"],
)
def test_an_slo_only_an_unreachable_state_would_feed_is_refused(change: str, said: str) -> None:
    """Before: accepted with a warning on the state alone; every run then failed the SLO on
    "no requests to measure" (`loadsim run --endpoint E` refused an SLO on another endpoint; this had no check)."""
    found = problems(f'extends = "smoke"\n{change}\n')
    assert said in found, "\n".join(found)


def test_an_slo_on_an_endpoint_no_state_sends_is_refused() -> None:
    text = MINIMAL + "[[slo.latency]]\nendpoint = 'identify'\npercentile = 95\nmax_ms = 300\n"
    text += (
        "[[slo.error_rate]]\nendpoint = 'events'\nmax = 0.1\n[[slo.error_rate]]\nendpoint = 'externalIds'\nmax = 0.1\n"
    )
    assert problems(text) == [
        f'bad.toml: slo.latency[0].endpoint: "identify": no state of the journey sends it: {_NOTHING}'
    ]
    idle = (
        MINIMAL.replace('action = "event"', 'action = "none"') + "[[slo.error_rate]]\nendpoint = 'events'\nmax = 0.1\n"
    )
    assert problems(idle) == [
        f'bad.toml: slo.error_rate[0].endpoint: "events": no state of the journey sends it: {_NOTHING}'
    ]


def test_an_slo_on_what_a_reachable_state_sends_is_taken() -> None:
    ok = (
        _NO_PURCHASE
        + '[[slo.error_rate]]\nendpoint = "identify"\nmax = 0.01\n[[slo.error_rate]]\nstep = "identify"\nmax = 0.01'
    )
    parse_scenario(f'extends = "smoke"\n{ok}\n', file="good.toml")
