"""The harness's tab in Locust's web UI: what Locust's own tabs cannot show, live.

Added the way Locust documents for extensions (``examples/extend_web_ui.py``): the tab and its
table structure go into ``web_ui.template_args`` (``extended_tabs``, ``extended_tables``), and
each poll of ``/stats/requests`` carries the rows under ``extended_stats``. The rows are the
harness's own percentiles per endpoint, per journey step and in total (from the log
histograms, not Locust's rounded buckets), the journey funnel, open-model arrivals and drops,
expected rejections, and reconciliation against the mock. ``GET /loadsim/stats`` answers the
same rows as JSON for scripts. When a test stops, however it stops, Locust's own HTML and CSV
files join the harness's report, as in a headless run (``hooks.write_report``).

The start form also gets a check: the harness's options arrive from the form as text, so a
scenario that does not load or a seed that is not a number is refused with a message before
anything starts, and the chosen scenario (and seed, app id, load model, rate...) replaces the
one the process started with. With ``--processes N`` a start waits for all N workers to connect.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gevent
import orjson
from locust import events
from locust.env import Environment
from locust.runners import (
    STATE_CLEANUP,
    STATE_RUNNING,
    STATE_SPAWNING,
    STATE_STOPPED,
    STATE_STOPPING,
    MasterRunner,
    WorkerRunner,
)

from simulator.contract import ENDPOINT_NAMES
from simulator.errors import HarnessError
from simulator.loadtest import hooks, options
from simulator.loadtest.context import CUSTOMERLABS_URL, is_customerlabs
from simulator.loadtest.reconcile import fetch_mock_stats, reconcile
from simulator.loadtest.shape import LoadProfile
from simulator.loadtest.state import HarnessState, harness_state
from simulator.report.slo import Verdict, verdict_word
from simulator.report.stats import RunStats, Series
from simulator.report.summary import funnel, funnel_steps
from simulator.scenario import Scenario, ScenarioError, check_base_url

__all__ = ["COLUMNS", "TAB_KEY", "register", "rows"]

log = logging.getLogger("loadsim")

TAB_KEY = "loadsim"
TAB_TITLE = "Harness"
#: The table's columns, in order: (key, title). Latency columns are milliseconds. Locust's table
#: sorts rows by a ``name`` field unless a header is clicked: each row's hidden ``name`` is its
#: position, so the rows keep the order they are built in (total, endpoints, steps, funnel...).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("kind", "Kind"),
    ("label", "Name"),
    ("count", "Count"),
    ("failures", "Failures"),
    ("expected", "Expected 400s"),
    ("p50", "p50 ms"),
    ("p90", "p90 ms"),
    ("p95", "p95 ms"),
    ("p99", "p99 ms"),
    ("p999", "p99.9 ms"),
    ("max", "Max ms"),
    ("detail", "Detail"),
)
_PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p999", 99.9))
#: The mock's counters are read at most this often, however many browsers poll.
MOCK_POLL_S = 2.0


# --- the start form ----------------------------------------------------------------------------


def check_form(form: Mapping[str, str]) -> str | None:
    """What is wrong with the start form's harness fields, or None."""
    try:
        hooks.coerce_form_options(SimpleNamespace(**{name: form.get(name, "") for name in hooks.FORM_NUMBERS}))
    except ValueError as e:
        return str(e)
    app = form.get("app_id", "")
    if app:  # an empty field is "as the scenario says"; a blank one would be every request's id
        try:
            options.app_id(app)
        except argparse.ArgumentTypeError as e:
            return f"app id: {e}"
    host = form.get("host", "").strip()
    if host:
        try:
            check_base_url(host)
        except ValueError as e:
            return f"host {host!r}: {e}"
    scenario = form.get("scenario")
    if scenario:
        from simulator.scenario import load_scenario
        from simulator.scenario_check import check_start_day

        try:
            check_start_day(load_scenario(scenario))  # its population is built at the test's start
        except ScenarioError as e:
            return f"the scenario has problems: {e}"
    for name, choices in (("target", options.TARGETS), ("load_model", options.LOAD_MODELS)):
        value = form.get(name, "")
        if value and value not in choices:  # Locust's /swarm takes any text for an option
            return f"{name.replace('_', ' ')}: expected {' or '.join(choices)} (empty: the scenario's), got {value!r}"
    try:
        _check_as_the_command_line(form)
    except HarnessError as e:
        return _as_the_form_names_it(str(e))
    return None


#: The command line's flags whose checks the form reuses (``_check_as_the_command_line``), and the
#: labels of the form's fields they check, as Locust's page shows them.
FORM_FIELDS = {"--users": "Number of users", "--run-time": "Run time", "--report-dir": "Report Dir"}


def _as_the_form_names_it(message: str) -> str:
    """A command-line check's message, its leading flag named as the start form's field: the page's
    user typed no flags."""
    flag, _, rest = message.partition(" ")
    return f"{FORM_FIELDS[flag]} {rest}" if flag in FORM_FIELDS else message


def _check_as_the_command_line(form: Mapping[str, str]) -> None:
    """The form's users, ramp-up, run time and report folder, refused as the command line refuses
    them (``HarnessError``): Locust's /swarm ran them, to a crashed greenlet, a 0-user pass, the
    scenario's run time for 0s, or a report that could not be written."""
    from simulator.loadtest.runner import RunOptions, check_report_dir, check_run_options

    try:
        users: int | None = int(form.get("user_count", ""))
    except ValueError:
        users = None  # Locust itself refuses a start without a number
    run_time = form.get("run_time", "").strip() or None
    check_run_options(RunOptions(scenario=form.get("scenario") or "smoke", users=users, run_time=run_time))
    try:
        spawn = float(form.get("spawn_rate", ""))
    except ValueError:
        spawn = math.nan  # as above
    if spawn <= 0:  # nan is not below 0: Locust's own message
        # Locust's form labels the field "Ramp up" (its command line: --spawn-rate)
        raise HarnessError(f"Ramp up (users started/second) must be above 0, got {form['spawn_rate']}")
    report_dir = form.get("report_dir", "").strip()
    if report_dir:
        check_report_dir(Path(report_dir))


def target_problem(opts: Any, scenario: Scenario, host: str) -> str | None:
    """Why the form cannot start its target at ``host`` (the Host field), or None. A test's requests all
    go to one collector: the real target's host is CustomerLabs' (its events to the source's webhook),
    the mock's is not (its events to the mock, whatever the webhook field says). The form has no
    confirmation field: the check that refuses the command line exited the whole UI from inside the
    test's start."""
    if (opts.target or scenario.target.kind) != "customerlabs":
        if is_customerlabs(host):
            return f"target mock: Host {host} is CustomerLabs': give the mock's base URL as the Host"
        return None
    if not (opts.confirm_real_target or scenario.target.confirm):
        return (
            "target customerlabs: the start form cannot confirm real traffic; run it from the command line: "
            "loadsim run SCENARIO --target customerlabs --confirm-real-target --rate-cap R --webhook-url URL"
        )
    if not is_customerlabs(host):
        return (
            f"target customerlabs: Host {host} is not CustomerLabs' (the mock's?), and a test sends all its "
            f"requests to one target: give {CUSTOMERLABS_URL} as the Host, or choose target mock"
        )
    try:
        hooks.check_target(opts, scenario)
    except HarnessError as e:
        return str(e)
    return None


#: Short labels where the harness's help text is too long for the form (the field cuts it off).
FORM_LABELS = {
    "target": "mock or customerlabs; default: the scenario's",
    "load_model": "closed or open; default: the scenario's",
}


def describe_load(scenario: Scenario) -> str:
    """The scenario's own load, stage by stage, short enough for a form label."""
    load = scenario.load
    profile = LoadProfile.of(load)
    begin, stages = 0.0, []
    for end, users, _, rate in profile.stages:
        what = f"{rate:g}/s" if load.model == "open" and rate is not None else f"{users} users"
        stages.append(f"{end - begin:g} s at {what}")
        begin = end
    return f"{scenario.name}: " + ", ".join(stages)


def _state(environment: Environment) -> HarnessState:
    """The harness state, which the tab is registered only with (see ``_on_init``)."""
    state = harness_state(environment)
    if state is None:
        raise RuntimeError("the loadsim tab needs the harness set up (--scenario)")
    return state


def form_defaults(state: Any) -> tuple[int, float]:
    """Users and ramp-up the start form shows: the preselected scenario's (or the command line's)."""
    profile = LoadProfile.of(state.scenario.load, users=state.cli_load[0], run_time=state.cli_load[1])
    return max(users for _, users, _, _ in profile.stages), profile.stages[0][2]


def tune_form(environment: Environment, template_args: dict[str, Any], defaults: tuple[int, float], load: str) -> None:
    """Locust's start form as the harness needs it: the preselected scenario's users and ramp-up
    (``defaults``) in Locust's own fields, its stages (``load``) beside the scenario, and only the
    fields that apply."""
    template_args["num_users"], template_args["spawn_rate"] = defaults
    extra = template_args.get("extra_options") or {}
    from simulator.loadtest.user import EndpointUser

    if not any(issubclass(u, EndpointUser) for u in environment.user_classes):
        extra.pop("endpoint", None)  # only the endpoint locustfile reads it
    for name, label in FORM_LABELS.items():
        if name in extra:
            extra[name]["help_text"] = label
    if "scenario" in extra:
        extra["scenario"]["help_text"] = f"{load}; users, ramp up, run time as shown play these"


def form_load(
    environment: Environment, form: Mapping[str, str], defaults: tuple[int, float], opts: Any
) -> tuple[Scenario, tuple[Any, Any], LoadProfile]:
    """The scenario, (users, run time) and load profile a start form asks for, with ``opts`` the
    options as the form set them. Users, ramp-up and run time count where the user changed them
    from what the form showed (``defaults``), and scale the scenario's stages as the command line's
    flags do; left as shown, the stages play as written.
    Raises ValueError (or ScenarioError) saying what is wrong."""
    state = _state(environment)
    cli_users, cli_run_time = state.cli_load if state.cli_load_first is None else state.cli_load_first
    try:
        users = int(form.get("user_count", ""))
        spawn = float(form.get("spawn_rate", ""))
    except ValueError:
        users, spawn = defaults  # Locust itself refuses a start without numbers
    run_time = (form.get("run_time") or "").strip()
    from simulator.duration import parse_duration

    try:
        seconds = parse_duration(run_time) if run_time else cli_run_time
    except ValueError as e:
        raise ValueError(f"run time {run_time!r}: {e}") from None
    cli_load = (users if users != defaults[0] else cli_users, seconds)
    scenario = hooks._scenario_with_overrides(opts)
    if spawn != defaults[1]:  # every stage ramps at the form's rate
        load = scenario.load
        stages = tuple(dataclasses.replace(st, spawn_rate=None) for st in load.stages)
        scenario = dataclasses.replace(scenario, load=dataclasses.replace(load, spawn_rate=spawn, stages=stages))
    trial = SimpleNamespace(scenario=scenario, cli_load=cli_load, opts=opts)
    return scenario, cli_load, hooks._profile(trial)  # type: ignore[arg-type]


def form_options(environment: Environment, form: Mapping[str, str]) -> Any:
    """A copy of the process's options with the start form's harness fields, as ``/swarm`` sets them."""
    import copy

    opts = copy.copy(environment.parsed_options)
    for name in ("scenario", *hooks.FORM_NUMBERS, *hooks.FORM_TEXTS):
        if name in form:
            setattr(opts, name, form[name])
    hooks.coerce_form_options(opts)
    return opts


def apply_form_load(environment: Environment, form: Mapping[str, str], defaults: tuple[int, float]) -> None:
    """The start form's users, ramp-up and run time over the scenario's stages (see ``form_load``)."""
    state = _state(environment)
    if state.cli_load_first is None:  # what the command line gave, kept for every test
        state.cli_load_first = state.cli_load
    scenario, state.cli_load, profile = form_load(environment, form, defaults, state.opts)
    state.scenario = scenario
    state.profile = profile


# --- the rows ----------------------------------------------------------------------------------


def _live_stats(environment: Environment) -> RunStats | None:
    """This process's stats (standalone) or the sum of the workers' (master)."""
    state = harness_state(environment)
    ctx = state.context if state is not None else None
    if ctx is not None and not isinstance(environment.runner, MasterRunner):
        return ctx.stats
    return None if state is None else state.stats


def _series_row(kind: str, name: str, s: Series, detail: str = "") -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": kind,
        "label": name,
        "count": s.count,
        "failures": s.failures,
        "expected": s.expected_rejections,
    }
    for key, p in _PERCENTILES:
        row[key] = round(s.latency.percentile(p) * 1000, 2)
    row["max"] = round(s.latency.max * 1000, 2)
    row["detail"] = detail
    return row


def _plain(kind: str, name: str, count: int | str, detail: str = "") -> dict[str, Any]:
    return {
        "kind": kind,
        "label": name,
        "count": count,
        "failures": "",
        "expected": "",
        **{key: "" for key, _ in _PERCENTILES},
        "max": "",
        "detail": detail,
    }


class MockView:
    """The mock's counters, read at most every ``MOCK_POLL_S`` seconds."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.moment: Any = None
        self.at = 0.0
        self.stats: dict[str, Any] | None = None
        self.error = ""

    def get(self, url: str, moment: Any = None) -> dict[str, Any] | None:
        """The counters; read afresh when ``moment`` (e.g. the run's start and whether it stopped) changed."""
        now = time.monotonic()
        if (url, moment) != (self.url, self.moment) or now - self.at >= MOCK_POLL_S:
            self.url, self.moment, self.at = url, moment, now
            try:
                self.stats, self.error = fetch_mock_stats(url, timeout=2.0), ""
            except (OSError, ValueError) as e:
                self.stats, self.error = None, f"cannot read the mock's stats at {url}: {e}"
        return self.stats


def rows(environment: Environment, mock: MockView | None = None) -> list[dict[str, Any]]:
    """The tab's rows: harness percentiles, funnel, arrivals, reconciliation."""
    state = harness_state(environment)
    stats = _live_stats(environment)
    if state is None or stats is None:
        return []
    out = [
        _series_row(
            "total",
            "total",
            stats.total,
            f"{stats.total.expected_rejections} expected rejections (400s to faulty SDKs)",
        )
    ]
    out += [_series_row("endpoint", ep, stats.endpoints[ep]) for ep in ENDPOINT_NAMES if ep in stats.endpoints]
    out += [_series_row("endpoint", ep, s) for ep, s in sorted(stats.endpoints.items()) if ep not in ENDPOINT_NAMES]
    # externalIds and identify are one step each, named as their endpoint: shown once, as the endpoint.
    out += [_series_row("step", name, s) for name, s in sorted(stats.steps.items()) if name not in stats.endpoints]
    out += _load_rows(environment)
    out += _funnel_rows(state.scenario, stats)
    out += _arrival_rows(environment, state, stats)
    out += _generator_rows(state, stats)
    out += _reconciliation_rows(environment, state, stats, mock or MockView())
    out += _verdict_rows(state)
    for i, row in enumerate(out):
        row["name"] = f"{i:04d}"
    return out


def _load_rows(environment: Environment) -> list[dict[str, Any]]:
    """The load profile in effect, stage by stage: the scenario's, or the form's users and run time."""
    state = harness_state(environment)
    profile = state.profile if state is not None else None
    if profile is None:
        return []
    out, begin = [], 0.0
    for i, (end, users, spawn, rate) in enumerate(profile.stages, start=1):
        detail = f"{begin:g}-{end:g} s, spawn {spawn:g}/s" + (f", target {rate:g}/s" if rate is not None else "")
        out.append(_plain("load", f"stage {i} users", users, detail))
        begin = end
    return out


#: The last report read for the tab: (path, mtime) -> its summary, so a poll does not read it again.
_REPORT_CACHE: dict[tuple[str, float], dict[str, Any]] = {}


def _verdict_rows(state: Any) -> list[dict[str, Any]]:
    """After a stop: the run's result, whether it was interrupted, each SLO, and where the report is."""
    where = getattr(state, "report_dir", None)
    if not state.started:
        return []
    if not getattr(state, "reported", False) or where is None:
        return [_plain("verdict", "result", "-", "judged when the test stops")]
    path = Path(where) / "summary.json"
    try:
        key = (str(path), path.stat().st_mtime)
        summary = _REPORT_CACHE.get(key)
        if summary is None:
            summary = orjson.loads(path.read_bytes())
            _REPORT_CACHE.clear()
            _REPORT_CACHE[key] = summary
    except (OSError, orjson.JSONDecodeError) as e:
        return [_plain("verdict", "result", "-", f"cannot read the report {path}: {e}")]
    result = str(summary.get("result") or ("PASSED" if summary.get("passed") else "FAILED"))
    interrupted = bool(summary.get("interrupted"))
    out = [
        _plain("verdict", "result", result, str(summary.get("reason") or "")),
        _plain(
            "verdict",
            "interrupted",
            "yes" if interrupted else "no",
            "stopped before its planned run time: figures are partial" if interrupted else "",
        ),
    ]
    for slo in summary.get("slo") or []:  # as summary.md, which the command line prints, has them
        v = Verdict.from_dict(slo)
        out.append(_plain("slo", v.name, verdict_word(v, summary, markdown=False), v.measured))
    out.append(_plain("report", "report", "", str(Path(where).resolve())))
    return out


def _generator_rows(state: Any, stats: RunStats) -> list[dict[str, Any]]:
    """The load generator's CPU (sampled once a second in every process) and the requests in flight:
    live, so a saturated generator or a stalled target shows while the test runs."""
    timeline = [stats.timeline[k] for k in sorted(stats.timeline)]
    cpus = [float(p["cpu"]) for p in timeline if "cpu" in p]
    limit = float(state.scenario.slo.max_generator_cpu)
    now = cpus[-1] if cpus else 0.0
    peak = max(cpus, default=0.0)
    flag = " SATURATED: latency figures include its own queueing" if now >= limit else ""
    inflight = [p.get("inflight", 0) for p in timeline]
    stalled = sum(1 for p in timeline if p.get("inflight", 0) and not (p.get("total") or [0])[0])
    return [
        _plain("generator", "generator CPU", f"{now:.0f}%", f"peak {peak:.0f}% (saturated at {limit:g}%){flag}"),
        _plain(
            "generator",
            "requests in flight",
            int(inflight[-1]) if inflight else 0,
            f"target stalled for {stalled * stats.timeline_step} s (requests waited, none answered)" if stalled else "",
        ),
    ]


def _funnel_rows(scenario: Scenario, stats: RunStats) -> list[dict[str, Any]]:
    """The journey funnel as the report has it: sessions reaching each stage, and conversion."""
    out = [_plain("funnel", "devices started", stats.funnel.get("devices", 0))]
    table = funnel(stats.steps, funnel_steps(scenario.journey), reached=stats.funnel)
    for stage in table["stages"]:
        share = (
            ""
            if stage["conversion"] is None or stage["stage"] == "sessions"
            else (f"{100 * stage['conversion']:.1f} per 100 sessions")
        )
        out.append(_plain("funnel", stage["stage"], stage["count"], share))
    login = table.get("login")
    if login:
        rate = "" if login["rate"] is None else f"{100 * login['rate']:.1f} per 100 sessions (not a stage)"
        out.append(_plain("funnel", "logged in", login["count"], rate))
    return out


def _arrival_rows(environment: Environment, state: Any, stats: RunStats) -> list[dict[str, Any]]:
    if state.scenario.load.model != "open":
        return [_plain("arrivals", "dropped arrivals", 0, "closed model: users wait for each other, nothing drops")]
    profile = state.profile
    elapsed = time.time() - state.started if state.started else 0.0
    now = profile.at(elapsed) if profile is not None else None
    target = f"{now[2]:g}/s" if now is not None and now[2] is not None else "-"
    achieved = stats.achieved_rate
    # Each stage's own count: the run's achieved rate averages a flash sale's peak with its calm.
    stages = []
    for key, (scheduled, dropped, _) in sorted(stats.stage_arrivals.items(), key=lambda kv: int(kv[0])):
        rate = _rate_of(profile, int(key))
        detail = f"{dropped} dropped" + (f", target {rate:g}/s" if rate is not None else "")
        stages.append(_plain("arrivals", f"stage {int(key) + 1} arrivals", scheduled, detail))
    return [
        *stages,
        _plain(
            "arrivals",
            "dropped arrivals",
            stats.dropped,
            f"of {stats.arrivals} arrivals ({100 * stats.dropped / stats.arrivals:.2f}%)"
            if stats.arrivals
            else "no arrivals yet",
        ),
        _plain(
            "arrivals",
            "achieved rate",
            f"{achieved:.2f}/s" if achieved is not None else "-",
            f"target now {target} ({state.scenario.load.rate_unit}/s)",
        ),
    ]


def _rate_of(profile: LoadProfile | None, stage: int) -> float | None:
    """The target rate of ``stage`` in ``profile`` (None without one)."""
    if profile is None or stage >= len(profile.stages):
        return None
    return profile.stages[stage][3]


def _reconciliation_rows(environment: Environment, state: Any, stats: RunStats, mock: MockView) -> list[dict[str, Any]]:
    admin = hooks._mock_admin(state, environment)
    if not admin:
        return [_plain("reconciliation", "verdict", "-", "only against the mock collector")]
    runner = environment.runner
    stopped = bool(runner is not None and runner.state in ("stopped", "stopping", "cleanup") and state.started)
    # Counters read before the stop would miss the last requests: read again once it stopped.
    current = mock.get(admin, (state.started, runner.state if runner is not None else None))
    if current is None:
        return [_plain("reconciliation", "verdict", "-", mock.error)]
    result = reconcile(stats, current, state.mock_baseline)
    out = []
    for ep in ENDPOINT_NAMES:
        r = result["endpoints"][ep]
        out.append(
            _plain(
                "reconciliation",
                ep,
                r["stored"],
                f"acknowledged {r['acknowledged']}, stored {r['stored']}, cut off {r['interrupted']}"
                # requests cut off at stop may explain a digest difference: only a real one counts
                + (", differs" if any(d.startswith(f"{ep}:") for d in result["differences"]) else ""),
            )
        )
    if not state.started:
        verdict = "not started"
    elif not stopped:
        verdict = "running: requests in flight may differ; judged at stop"
    else:
        verdict = "OK" if result["ok"] else "FAILED: " + "; ".join(result["differences"])
    out.append(_plain("reconciliation", "verdict", "", verdict))
    return out


# --- registration -------------------------------------------------------------------------------


def register(environment: Environment) -> None:
    """Add the tab, the rows on each stats poll, the start-form check and ``/loadsim/stats``."""
    from flask import Response, jsonify, request

    web_ui = environment.web_ui
    assert web_ui is not None and web_ui.app is not None
    app = web_ui.app
    mock = MockView()
    # Locust rebuilds its template arguments on every page load: the form's tuning follows each time.
    # The form is filled from the scenario preselected at start (the one the command line named):
    # a field left as shown means "as the scenario says", whichever scenario is then chosen.
    defaults = form_defaults(_state(environment))
    load = describe_load(_state(environment).scenario)
    locust_update = web_ui.update_template_args

    def update_template_args() -> None:
        locust_update()
        tune_form(environment, web_ui.template_args, defaults, load)

    web_ui.update_template_args = update_template_args  # type: ignore[method-assign]
    update_template_args()
    # template_args survive Locust's own updates (it merges into them), so the normal page shows the tab.
    web_ui.template_args["extended_tabs"] = [{"title": TAB_TITLE, "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB_KEY, "structure": [{"key": k, "title": t} for k, t in COLUMNS]}
    ]

    @app.before_request
    def _check_start_form() -> Response | None:
        if request.method != "POST" or not request.path.endswith("/swarm"):
            return None
        runner = environment.runner
        if runner is not None and runner.state in (STATE_SPAWNING, STATE_RUNNING):
            # Locust takes the form's options, then ignores the start ("Editing is disabled" for a load
            # shape, which every harness test has): the running test would end and report as the form said.
            problem: str | None = "a test is running: stop it first, then start the next (a running test is not edited)"
        else:
            problem = check_form(request.form) or _missing_workers(environment)
        if problem is None:
            try:  # the load and target the form asks for, checked before anything starts (open model: a rate)
                opts = form_options(environment, request.form)
                scenario, _, _ = form_load(environment, request.form, defaults, opts)
                problem = target_problem(opts, scenario, request.form.get("host", "").strip() or environment.host or "")
            except (ScenarioError, ValueError) as e:
                problem = str(e)
        if problem is None and "host" in request.form and not request.form["host"].strip():
            problem = f"host: empty; give the target's base URL (this UI's is {environment.host or 'not set'})"
        if problem is None:
            # Locust's /swarm converts a field to its option's current type, type(old)(text): a number
            # the last test set made an emptied field a 500 with half the form applied. As text, each
            # is taken as sent and typed after (coerce_form_options), '' as the scenario's.
            for name in hooks.FORM_NUMBERS:
                if name in request.form:
                    setattr(environment.parsed_options, name, request.form[name])
            return None
        log.error("web UI: not starting: %s", problem)
        return jsonify({"success": False, "message": problem, "host": environment.host})

    @app.after_request
    def _extend(response: Response) -> Response:
        started = request.method == "POST" and request.path.endswith("/swarm") and response.status_code == 200
        if started and (response.get_json(silent=True) or {}).get("success"):  # a refused form changes nothing
            try:
                hooks.resolve_options(environment)
                apply_form_load(environment, request.form, defaults)
            except (ScenarioError, ValueError) as e:  # check_form let it through: say so, keep the old one
                log.error("web UI: the form's options were not applied: %s", e)
        elif request.path.endswith("/stats/requests") and response.is_json:
            body = response.get_json()
            if _report_pending(environment):
                # Locust's page stops polling at the first answer that says neither spawning nor running:
                # that answer is the tab's last, so it waits for the report and carries the verdict.
                _await_report(harness_state(environment))
                body["state"] = environment.runner.state if environment.runner else body.get("state")
            body["extended_stats"] = [{"key": TAB_KEY, "data": rows(environment, mock)}]
            response.set_data(orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY))
        return response

    @app.route("/loadsim/stats")
    def _loadsim_stats() -> Response:
        state = harness_state(environment)
        return jsonify(
            {
                "scenario": state.scenario.name if state else None,
                "state": environment.runner.state if environment.runner else None,
                "columns": [k for k, _ in COLUMNS],
                "rows": rows(environment, mock),
            }
        )


#: Seconds to wait for the harness's report after a stop, before the page's last stats answer.
REPORT_WAIT_S = 30.0
#: The runner's states once a stop has begun.
STOPPING_STATES = frozenset((STATE_STOPPING, STATE_CLEANUP, STATE_STOPPED))


def _missing_workers(environment: Environment) -> str | None:
    """Why a start must wait for workers, or None. A master starts a test on the workers connected at
    that moment, and with ``--processes N`` a form sent once the first had connected ran on fewer than
    asked for (half the load capacity, ``workers`` 1 in its report). The master knows how many it is
    to have: ``--processes N`` makes its ``expect_workers`` N, as ``--master --expect-workers N`` does
    (1 by default), which Locust waits for only headless. A missing worker (one that stopped sending
    heartbeats) is not counted."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return None
    opts = environment.parsed_options
    expected = max(1, int(getattr(opts, "expect_workers", None) or 1))
    connected = int(runner.worker_count)
    if connected >= expected:
        return None
    if getattr(opts, "processes", None):
        asked = f" (--processes {expected})"
    else:
        asked = f" (--expect-workers {expected})" if expected > 1 else ""
    workers = "worker" if expected == 1 else "workers"
    return f"{connected} of {expected} {workers} connected{asked}: wait until all have, then start again"


def _report_pending(environment: Environment) -> bool:
    """Whether the test has stopped (or is stopping) and its report is not written yet."""
    state, runner = harness_state(environment), environment.runner
    return bool(state and state.started and not state.reported and runner and runner.state in STOPPING_STATES)


def _await_report(state: Any) -> None:
    deadline = time.monotonic() + REPORT_WAIT_S
    while not state.reported and time.monotonic() < deadline:
        gevent.sleep(0.05)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    if environment.web_ui is None or isinstance(environment.runner, WorkerRunner) or harness_state(environment) is None:
        return
    register(environment)
