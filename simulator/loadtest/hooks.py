"""Locust event listeners: the harness's arguments, sharding, stats shipping, the report at the end.

Importing this module registers them (a locustfile imports ``simulator.loadtest``). The flow:

- ``init``: read the scenario named by ``--scenario`` (a bad one ends the process with exit 2
  and every problem listed);
- ``test_start``: a standalone process plays the whole population; a master tells each worker
  its shard (index, count); a worker builds its context and plays its shard;
- every few seconds a worker ships what it measured (``report_to_master``), the master adds it;
- ``quitting``: the master (or standalone process) reconciles with the mock and writes
  ``summary.json``, ``summary.md`` and ``stats.json``, and sets the exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.hub
import psutil
from locust import events
from locust.env import Environment
from locust.runners import STATE_INIT, MasterRunner, Runner, WorkerRunner

from simulator import held
from simulator.errors import NOT_STARTED, NOT_STARTED_EXIT, QUITTING_IDLE, STOPPING, HarnessError
from simulator.loadtest import options
from simulator.loadtest.context import RunContext, Target, check_host, check_real_target
from simulator.loadtest.reconcile import NO_MOCK_ADMIN, fetch_mock_stats, try_reconcile
from simulator.loadtest.shape import LoadProfile
from simulator.loadtest.state import HarnessState, attach_state, harness_state
from simulator.loadtest.user import OpenArrivals
from simulator.report.outcome import interruption
from simulator.report.slo import Plan, Verdict, evaluate, handed, junit_xml
from simulator.report.stats import RunStats
from simulator.report.summary import (
    build_summary,
    default_report_dir,
    saturated,
    summary_markdown,
    write_summary,
    write_summary_json,
)
from simulator.scenario import Scenario, ScenarioError, load_scenario, say_warnings

log = logging.getLogger("loadsim")

SHARD_MESSAGE = "loadsim_shard"
#: A worker's last figures, sent when it stops: its periodic report could come after the master's.
FINAL_MESSAGE = "loadsim_final"
_process_env: Environment | None = None
REPORT_KEY = "loadsim"

#: The signal that told this process to stop, if one did: the report says INTERRUPTED.
_signalled: list[str] = []


#: The pipe ``loadsim run`` gave this Locust process (runner.READY_FD), written to once SIGINT is ours.
_ready_fd = os.environ.pop("LOADSIM_READY_FD", None)
#: A KeyboardInterrupt is owed: the signal came while a headless master's test start was firing.
_owed = False


def _waiting_for_workers() -> bool:
    """A headless master still in Locust's wait for its workers, before the test's start."""
    env = _process_env
    if env is None:
        return False
    state, runner = harness_state(env), env.runner
    return (
        state is not None
        and not state.started
        and isinstance(runner, MasterRunner)
        and runner.state == STATE_INIT
        and bool(getattr(state.opts, "headless", False))
    )


def _stop_waiting() -> None:
    """Stop a headless master waiting for its workers. Locust stops neither there (a TODO of its own):
    Ctrl-C was a traceback or, come in a greenlet, lost; SIGTERM killed it before its handler was in
    place; either way the workers already connected ran on. They quit now, and the process exits as
    one stopped before its test."""
    assert _process_env is not None and _process_env.runner is not None  # _waiting_for_workers said so
    _process_env.runner.quit()  # tells each connected worker to quit
    raise SystemExit(_not_started())  # gevent hands it to the main greenlet, in the wait


def _in_web_ui(environment: Environment, state: HarnessState) -> bool:
    """The web UI's process (not a headless one, nor a worker): test after test, each reported as it stops."""
    return environment.web_ui is not None and not getattr(state.opts, "headless", False)


def _not_started() -> int:
    """Say a stop came before any test began (loadsim says it for a process it started); the exit code."""
    if _ready_fd is None:
        log.warning(NOT_STARTED.removeprefix("loadsim: "))
        return 3
    return NOT_STARTED_EXIT


def _on_sigint(signum: int, frame: Any) -> None:
    """SIGINT, and SIGTERM in a headless master or single process: Locust's own SIGTERM handler never
    runs during the test (it died of SIGTERM with no report, a master's workers left running), so a
    CI cancel stops it as Ctrl-C does."""
    _signalled.append(signal.Signals(signum).name)
    env = _process_env
    state = harness_state(env)
    if env is not None and state is not None and len(_signalled) == 1 and _in_web_ui(env, state):
        # loadsim leaves this to the web UI's process: only here is it known whether a test is under way.
        running = bool(state.started) and not state.reporting
        print(f"\n{STOPPING if running else QUITTING_IDLE}", file=sys.stderr, flush=True)
    if _waiting_for_workers():
        gevent.spawn(_stop_waiting)  # a greenlet: telling the workers to quit waits on the network
        return
    hub = gevent.get_hub()
    current = gevent.getcurrent()
    if current is hub or (current is hub.parent and _ready_fd is None and _process_env is None):
        raise KeyboardInterrupt  # what Python's own handler does: Locust stops on it
    # A user's greenlet was running: a KeyboardInterrupt there would kill it mid-request, its body
    # neither counted as acknowledged nor as cut off, and reconciliation would fail the run. Or
    # Locust's main greenlet, starting up (the locustfile, its options, the runner, init): raised
    # there it is a traceback. Raise it in the hub instead, which hands it to the main greenlet
    # where it next waits, which is where Locust stops on it.
    hub.loop.run_callback(_raise_interrupt)


def _raise_interrupt() -> None:
    global _owed
    env = _process_env
    if (
        env is not None
        and isinstance(env.runner, MasterRunner)
        and env.runner.state == STATE_INIT
        and getattr(env.parsed_options, "headless", False)
    ):
        # The wait for workers is over (_on_sigint stops that) but the test's start is still firing,
        # outside Locust's handling of Ctrl-C: its listeners raise it once done (_on_test_start).
        _owed = True
        return
    raise KeyboardInterrupt


def _raise_owed() -> None:
    # From the test's start, still in STATE_INIT until its listeners return: raised whatever the state.
    raise KeyboardInterrupt


# bash starts a script's background jobs with SIGINT ignored, and an ignored signal stays ignored
# through exec: Locust then never sees the SIGINT that `loadsim run` (or a worker's master) sends
# to stop it, and runs to its full run time. A stop asked for must stop, so take SIGINT back,
# and note it: by the time Locust fires "quitting" it has already stopped the users.
if not held.holding():  # in loadsim's own process (its options import this) the CLI answers SIGINT
    signal.signal(signal.SIGINT, _on_sigint)
if _ready_fd is not None:  # loadsim waits for this before it sends a stop (a SIGINT earlier is a traceback)
    with contextlib.suppress(OSError, ValueError):
        os.write(int(_ready_fd), b"1")
    with contextlib.suppress(OSError, ValueError):
        os.close(int(_ready_fd))  # not inherited by --processes' workers
# An idle Locust process waits in gevent's hub, so that is where the KeyboardInterrupt rises; the
# hub printed it as a crash (a traceback after "stopping") before stopping the main greenlet with
# it, which it still does. A stop asked for is not an error.
gevent.hub.Hub.NOT_ERROR = (*gevent.hub.Hub.NOT_ERROR, KeyboardInterrupt)


def _scenario_with_overrides(opts: Any) -> Scenario:
    scenario = load_scenario(opts.scenario)
    changes: dict[str, Any] = {}
    if opts.seed is not None:
        changes["seed"] = opts.seed
    if opts.app_id is not None:
        changes["app"] = dataclasses.replace(scenario.app, app_id=opts.app_id)
    load_changes: dict[str, Any] = {}
    if opts.load_model:
        load_changes["model"] = opts.load_model
    if opts.think_scale is not None:
        load_changes["think_time_scale"] = opts.think_scale
    if load_changes:
        changes["load"] = dataclasses.replace(scenario.load, **load_changes)
    return dataclasses.replace(scenario, **changes) if changes else scenario


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    options.add_arguments(parser)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    if opts is None or not hasattr(opts, "scenario"):
        return  # run as a library without our arguments: nothing to do
    try:
        scenario = _scenario_with_overrides(opts)
    except ScenarioError as e:
        sys.stderr.write(f"loadsim: the scenario has problems:\n{e}\n")
        raise SystemExit(2) from None
    # Plain Locust (loadsim run said them before it started this process); a replay plays its dataset's
    # scenario, not --scenario's.
    if _ready_fd is None and not isinstance(environment.runner, WorkerRunner) and not getattr(opts, "dataset", None):
        say_warnings(scenario)
    global _process_env
    _process_env = environment  # report_to_master and worker_report listeners get no environment
    state = HarnessState(scenario, opts)
    attach_state(environment, state)
    if getattr(opts, "headless", False) and opts.html_file and not isinstance(environment.runner, WorkerRunner):
        # Locust writes --html before the quitting listeners, which write the harness's report, and a
        # failure there (a full disk) ends the process with neither: the harness writes it, after.
        state.locust_html, opts.html_file = opts.html_file, None
    state.resolution = _resolution(opts)
    # Users and run time as the command line gave them: Locust fills in its own defaults later.
    state.cli_load = (_explicit(opts, "num_users"), _explicit(opts, "run_time"))
    try:
        state.profile = _profile(state)
    except ValueError as e:
        sys.stderr.write(f"loadsim: {e}\n")
        raise SystemExit(2) from None
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.register_message(SHARD_MESSAGE, _on_shard_message)
        events.test_stop.add_listener(_send_final_report)
        # Quitting listeners fire last-registered first, so this runs before Locust's own, which
        # tells the master "quit": a worker stopped by its own Ctrl-C ships its figures first.
        events.quitting.add_listener(_stop_before_quitting)
    if getattr(opts, "headless", False) and not isinstance(runner, WorkerRunner):
        # Locust puts in its SIGTERM handler only once the load shape's run is over: until then a
        # SIGTERM (a CI job cancelled) killed it with no report, and a master's workers ran on.
        signal.signal(signal.SIGTERM, _on_sigint)
    if isinstance(runner, MasterRunner):
        events.worker_report.add_listener(_on_worker_report)
        runner.register_message(FINAL_MESSAGE, _on_final_report)
    else:
        events.report_to_master.add_listener(_on_report_to_master)
    # gevent's loop caches its clock, and it has not run since Locust started up (imports, this set-up).
    # Locust schedules its --run-time timer next, from that stale clock: the run ended a start-up's
    # length early (a replay of --run-time 3s stopped after 1.4 s).
    gevent.get_hub().loop.update_now()


#: Our options the web UI's start form sends as text (a form knows no types); '' means "as the
#: scenario says".
FORM_NUMBERS: dict[str, Any] = {
    "seed": options.seed,
    "rate": options.rate,
    "think_scale": options.think_scale,
    "rate_cap": options.rate_cap,
}
FORM_TEXTS = ("target", "webhook_url", "app_id", "load_model", "report_dir", "mock_admin")


def coerce_form_options(opts: Any) -> None:
    """Give our options their types back after the start form set them as text ('' = not set).

    Raises ``ValueError`` naming the field for a value that is not a number.
    """
    for name, kind in FORM_NUMBERS.items():
        value = getattr(opts, name, None)
        if isinstance(value, str):
            try:
                setattr(opts, name, kind(value) if value.strip() else None)
            except ValueError:
                raise ValueError(f"{name.replace('_', ' ')} must be a number, got {value[:40]!r}") from None
            except argparse.ArgumentTypeError as exc:  # a number out of the option's range
                raise ValueError(f"{name.replace('_', ' ')}: {exc}") from None
    for name in FORM_TEXTS:
        if getattr(opts, name, None) == "":
            setattr(opts, name, None)


def _resolution(opts: Any) -> tuple[Any, ...]:
    return tuple(getattr(opts, n, None) for n in ("scenario", "seed", "app_id", "load_model", "think_scale", "rate"))


def resolve_options(environment: Environment) -> bool:
    """Read the scenario and load profile again when the options changed since ``init``.

    Options change after ``init`` in two ways: the web UI's start form (``/swarm``), and a
    worker receiving its master's options with the spawn message. Returns whether anything changed.
    """
    state = harness_state(environment)
    opts = environment.parsed_options
    if state is None or opts is None:
        return False
    coerce_form_options(opts)
    key = _resolution(opts)
    if key == state.resolution:
        return False
    scenario = _scenario_with_overrides(opts)
    state.scenario, state.opts, state.resolution = scenario, opts, key
    state.profile = _profile(state)
    log.info("scenario %s (seed %s, %s model)", scenario.name, scenario.seed, scenario.load.model)
    return True


def _profile(state: HarnessState) -> LoadProfile:
    """The load profile: the scenario's stages, or the command line's users, rate and run time."""
    profile = LoadProfile.of(
        state.scenario.load, users=state.cli_load[0], rate=state.opts.rate, run_time=state.cli_load[1]
    )
    if state.scenario.load.model == "open" and all(rate is None for *_, rate in profile.stages):
        raise ValueError(
            "the open model needs a target rate: set load.rate (or the stages' rates) in the scenario, or pass --rate"
        )
    return profile


def _explicit(opts: Any, name: str) -> Any:
    """A Locust option only when given (Locust's defaults would otherwise override the scenario)."""
    value = getattr(opts, name, None)
    return value if value not in (None, 0) else None


def check_target(opts: Any, scenario: Scenario, host: str = "") -> str:
    """The real target only as ``check_real_target`` allows it, the options over the scenario's target
    table, and ``host`` (Locust's ``--host``) a collector of the target's kind (``check_host``: plain
    Locust comes here without loadsim's checks); ``HarnessError`` says what is wrong. Returns the
    events webhook URL ("" for the mock, whose events go to its own: see ``Target.of``)."""
    t = scenario.target
    kind = opts.target or t.kind
    check_host(kind, host, given=f"--host {host}")
    if kind != "customerlabs":
        return ""
    webhook = str(opts.webhook_url or t.resolved_webhook_url())
    check_real_target(
        confirmed=bool(opts.confirm_real_target or t.confirm), rate_cap=opts.rate_cap or t.rate_cap, webhook_url=webhook
    )
    return webhook


def _target(state: HarnessState, environment: Environment) -> Target:
    opts, t = state.opts, state.scenario.target
    try:
        webhook = check_target(opts, state.scenario, environment.host or "")
    except HarnessError as e:
        sys.stderr.write(f"loadsim: {e}\n")
        raise SystemExit(2) from None
    return Target.of(kind=opts.target or t.kind, host=environment.host or t.host, webhook_url=webhook)


def _mock_admin(state: HarnessState, environment: Environment) -> str | None:
    """The mock's base URL for reconciliation, or None when the target is not the mock (``--mock-admin
    none``: a collector of the user's own)."""
    if (state.opts.target or state.scenario.target.kind) != "mock" or state.opts.mock_admin == NO_MOCK_ADMIN:
        return None
    return state.opts.mock_admin or environment.host or state.scenario.target.host or None


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    global _owed
    state = harness_state(environment)
    if state is None:
        return
    try:
        resolve_options(environment)  # a worker plays its master's scenario, not its own command line's
    except (ScenarioError, ValueError) as e:
        log.error("the options sent to this process have problems; keeping %s: %s", state.scenario.name, e)
    state.started = time.time()
    # The web UI runs test after test in one process: each starts afresh.
    state.stats, state.exhausted = RunStats(), False
    state.reporting = state.reported = state.interrupted = False
    state.aborted = None  # an SLO's abort of the last test is not this one's
    state.stopped_at = 0.0
    state.report_dir = None
    runner = environment.runner
    if not isinstance(runner, WorkerRunner):
        admin = _mock_admin(state, environment)
        if admin:
            try:
                state.mock_baseline = fetch_mock_stats(admin)
            except (OSError, ValueError) as e:
                log.warning("cannot read the mock's stats at %s (%s): reconciliation will fail", admin, e)
        gevent.spawn(_status_loop, environment, state)
    if _owed and not isinstance(runner, WorkerRunner):  # stopped while the start fired: stop now
        _owed = False
        gevent.get_hub().loop.run_callback(_raise_owed)
    if isinstance(runner, MasterRunner):
        # The workers the test starts on, as Locust spawns on them: one missing (no heartbeat) is still
        # listed, but would get a shard nobody plays and be reported lost mid-test.
        c = runner.clients
        clients = sorted(c.ready + c.spawning + c.running, key=lambda w: w.id)
        state.workers = len(clients)
        state.worker_ids, state.finals, state.lost_workers = {c.id for c in clients}, set(), []
        shape = state.profile
        assert shape is not None  # set at init, or the process exited
        profile = {"stages": [list(stage) for stage in shape.stages], "stretch": shape.stretch}
        for index, client in enumerate(clients):
            message = {"index": index, "count": len(clients), "profile": profile}
            runner.send_message(SHARD_MESSAGE, message, client_id=client.id)
        return
    ctx = RunContext(
        scenario=state.scenario,
        target=_target(state, environment),
        think_scale=state.scenario.load.think_time_scale,
        start_time=state.started,
        rate_cap=state.opts.rate_cap or state.scenario.target.rate_cap,
        endpoint=state.opts.endpoint,
    )
    state.context = ctx
    gevent.spawn(_sample_gauges, environment, ctx)
    if state.scenario.load.model == "open":
        # Read when the arrivals begin (after the shard, which brings a worker its master's profile).
        arrivals = OpenArrivals(
            ctx,
            rate_at=lambda t: _rate_share(_arrivals_profile(state), ctx, t),
            stage_at=lambda t: _arrivals_profile(state).stage(t),
            requests_per_second=state.scenario.load.rate_unit == "requests",
        )
        state.arrivals = arrivals
        arrivals.start()
    if isinstance(runner, WorkerRunner):
        if state.shard is not None:
            ctx.assign_shard(*state.shard)
    else:
        ctx.assign_shard(0, 1)


STATUS_INTERVAL = 5.0
#: A load generator this busy measures its own queueing, not the target (p99 15 ms from a
#: saturated Locust where wrk saw 1.1 ms on the same server).
SATURATED_CPU = 90.0


def _generator_cpu(stats: RunStats) -> float:
    """The busiest load-generating process's CPU in the latest slices (sampled once a second, workers'
    samples shipped with their figures)."""
    recent = sorted(stats.timeline)[-2:]
    return max((float(stats.timeline[k].get("cpu", 0.0)) for k in recent), default=0.0)


def cpu_samples(stats: RunStats) -> list[float]:
    """The generator's CPU over the run: the busiest process in each timeline slice."""
    return [float(p["cpu"]) for _, p in sorted(stats.timeline.items()) if "cpu" in p]


def _status_loop(environment: Environment, state: HarnessState) -> None:
    """Every few seconds: CPU of the generator and, headless, one compact status line on stderr."""
    headless = bool(getattr(state.opts, "headless", False))
    last_count, last_time = 0, time.time()
    while environment.runner is not None and environment.runner.state not in ("stopped", "quitting"):
        gevent.sleep(STATUS_INTERVAL)
        ctx = state.context
        stats = state.stats if ctx is None else ctx.stats
        cpu = _generator_cpu(stats)
        if _abort_on_failed_slo(environment, state, stats):
            return
        if not headless:
            continue
        now = time.time()
        total = stats.total
        rate = (total.count - last_count) / (now - last_time)
        last_count, last_time = total.count, now
        warn = (
            "  GENERATOR SATURATED: latency figures include its own queueing"
            if cpu >= state.scenario.slo.max_generator_cpu
            else ""
        )
        sys.stderr.write(
            f"loadsim {now - state.started:6.0f}s  {rate:8.1f} req/s  p95 {total.latency.percentile(95) * 1000:7.1f} ms"
            f"  requests {total.count}  failures {total.failures}  expected 400s {total.expected_rejections}"
            f"  dropped {stats.dropped}  retries {sum(stats.retries.values())}"
            f"  queued {ctx.queued if ctx is not None else '-'}  cpu {cpu:3.0f}%{warn}\n"
        )


def _abort_on_failed_slo(environment: Environment, state: HarnessState, stats: RunStats) -> bool:
    """``slo.abort_on_fail``: past the grace period, stop at the first latency or error-rate SLO that fails.

    Achieved rate and reconciliation are judged at the end only: they need the whole run.
    """
    slo = state.scenario.slo
    if not slo.abort_on_fail or time.time() - state.started < slo.grace:
        return False
    live = dataclasses.replace(slo, min_rate=None, max_dropped=None, reconciliation=False)
    failed = [
        v
        for v in evaluate(live, stats=stats, duration_s=time.time() - state.started, reconciliation=None)
        if not v.passed
    ]
    if not failed:
        return False
    log.error("SLO failed during the run, stopping (slo.abort_on_fail): %s", failed[0])
    state.aborted = str(failed[0])
    runner = environment.runner
    if runner is not None:
        if getattr(state.opts, "headless", False):  # the process ends too, once a master has its workers' figures
            gevent.spawn(_stop_then_quit, runner)
        else:
            gevent.spawn(runner.stop)
    return True


def _stop_then_quit(runner: Runner) -> None:
    runner.stop()  # a master tells its workers and waits for them; quit() alone ends it before they answer
    runner.quit()


def _sample_gauges(environment: Environment, ctx: RunContext) -> None:
    """Once a second, for the timeline: the requests in flight (a stall shows as requests waiting
    while none finish), the offline queues' depth (the storm and its drain) and this process's CPU.

    The CPU is read from the first second: the psutil reading is primed here (its first call
    returns 0.0), where Locust's own figure comes every 10 s and read 0% for a short run's first 20 s.
    """
    process = psutil.Process()
    process.cpu_percent(None)
    while environment.runner is not None and environment.runner.state not in ("stopped", "quitting"):
        gevent.sleep(1.0)
        now = time.time()
        if ctx.queue_limit:
            ctx.stats.queue_depth(now, ctx.queued)
        ctx.stats.gauge("inflight", now, ctx.in_flight)
        ctx.stats.gauge("cpu", now, round(process.cpu_percent(None), 1))
        ctx.stats.cpu_readings += 1


def _arrivals_profile(state: HarnessState) -> LoadProfile:
    """The profile the open model's arrivals follow: on a worker its master's, else this process's."""
    profile = state.master_profile or state.profile
    assert profile is not None  # set at init, or the process exited
    return profile


def _rate_share(profile: LoadProfile, ctx: RunContext, elapsed: float) -> float:
    now = profile.at(elapsed)
    if now is None:
        now = profile.at(profile.duration - 1e-9)
    rate = now[2] if now is not None else None
    return (rate or 0.0) / ctx.shard_count  # a stage without a rate pauses arrivals


def _on_shard_message(environment: Environment, msg: Any, **_: Any) -> None:
    state = harness_state(environment)
    if state is None:
        return
    state.shard = (int(msg.data["index"]), int(msg.data["count"]))
    shipped = msg.data.get("profile")
    if shipped:
        stages = tuple((float(end), int(n), float(spawn), rate) for end, n, spawn, rate in shipped["stages"])
        state.master_profile = LoadProfile(stages, float(shipped["stretch"]))
    ctx = state.context
    if ctx is not None and ctx.population is None:
        ctx.assign_shard(*state.shard)


@events.test_stopping.add_listener
def _on_test_stopping(environment: Environment, **_: Any) -> None:
    state = harness_state(environment)
    if state is not None and not state.stopped_at:
        state.stopped_at = time.time()
    arrivals = state.arrivals if state is not None else None
    if arrivals is not None:
        arrivals.stop()


def _on_report_to_master(client_id: str, data: dict[str, Any]) -> None:
    state = harness_state(_process_env)
    ctx = state.context if state is not None else None
    if ctx is not None:
        taken = ctx.stats.take()
        data[REPORT_KEY] = taken.to_dict()
        data[REPORT_KEY + "_exhausted"] = ctx.exhausted


def _send_final_report(environment: Environment, **_: Any) -> None:
    """On a worker that stops: ship what is left now. Locust sends this before "client_stopped",
    on the same socket, and a master stops only when every worker said so."""
    state = harness_state(environment)
    ctx = state.context if state is not None else None
    runner = environment.runner
    if ctx is not None and isinstance(runner, WorkerRunner):
        data: dict[str, Any] = {}
        _on_report_to_master(runner.client_id, data)
        runner.send_message(FINAL_MESSAGE, data)


def _stop_before_quitting(environment: Environment, **_: Any) -> None:
    if environment.runner is not None:
        environment.runner.stop()  # stops the users and fires test_stop, which sends the last figures


def _on_final_report(environment: Environment, msg: Any, **_: Any) -> None:
    _on_worker_report(msg.node_id, msg.data)
    state = harness_state(environment)
    if state is not None:
        state.finals.add(msg.node_id)


#: Seconds a master's report waits for workers' last figures when the process is asked to quit.
FINAL_WAIT = 15.0
#: The verdict of a test whose master heard no last figures from some worker (killed mid-test).
LOST_WORKERS = "no worker lost mid-test (workers whose last figures never came)"


def _stop_the_test(environment: Environment, state: HarnessState) -> None:
    """On a process asked to quit mid-test (Ctrl-C, SIGTERM): stop the test first, so the report
    and reconciliation hold everything that was sent and name every request cut off.

    Locust's own shutdown fires ``quitting`` before it stops the users (and a master's workers);
    only a load shape's Ctrl-C path stops them before. Without a shape (a replay) the users went on
    sending while reconciliation read the mock: bodies stored after the count were "extra", rows
    not yet committed "lost". A master also missed whatever its workers sent since their last
    periodic report: it waits for their last figures, a worker that never answers (killed) up to
    ``FINAL_WAIT`` seconds, named in the log.
    """
    runner = environment.runner
    if runner is None:
        return
    # Users killed here are counted as cut off (TrackingUser.attempt); a master tells its workers
    # and waits for them. Nothing to do if the test already stopped.
    runner.stop()
    _await_finals(state)  # at once where there are no workers (only a master has any)


def _await_finals(state: HarnessState) -> None:
    """Wait (up to ``FINAL_WAIT``) until every worker of the test has sent its last figures.

    A master's test_stop can come before them: it fires once the workers report no users, and a
    worker's periodic report can say so while it is still stopping, before its last figures.
    """
    deadline = time.time() + FINAL_WAIT
    while state.worker_ids - state.finals and time.time() < deadline:
        gevent.sleep(0.1)
    state.lost_workers = sorted(state.worker_ids - state.finals)
    if state.lost_workers:
        log.warning(
            "no last figures from %d worker(s) (%s): the report misses what they sent since their last periodic report",
            len(state.lost_workers),
            ", ".join(state.lost_workers),
        )


def _on_worker_report(client_id: str, data: dict[str, Any]) -> None:
    state = harness_state(_process_env) if _process_env is not None else None
    if state is not None and REPORT_KEY in data:
        state.stats.merge(RunStats.from_dict(data[REPORT_KEY]))
        state.exhausted = state.exhausted or bool(data.get(REPORT_KEY + "_exhausted"))


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    """In the web UI a test stops without the process quitting: write its report now."""
    state = harness_state(environment)
    if state is None or getattr(state.opts, "headless", True) or isinstance(environment.runner, WorkerRunner):
        return
    if state.started and not state.reporting:
        gevent.spawn(_report_after_finals, environment, state)


#: Seconds before its planned end a web UI test may stop and still have run its time (the shape
#: ends it on a tick of its own).
_UI_END_SLACK = 1.0


def _report_after_finals(environment: Environment, state: HarnessState) -> None:
    _await_finals(state)  # at once where there are no workers (only a master has any)
    # A signal's stop reaches a master's test_stop before our quitting listener: Locust's own, which
    # quits the workers, is registered later and so runs first. The stop is still the signal's.
    # Stop pressed before the planned time ends a test that covers part of its plan: not a pass.
    planned = state.profile.duration if state.profile is not None else 0.0
    # (An SLO's abort stopped it early too: FAILED, as a headless abort is, not interrupted.)
    early = bool(state.stopped_at) and state.stopped_at - state.started < planned - _UI_END_SLACK and not state.aborted
    state.interrupted = state.interrupted or bool(_signalled) or early
    write_report(environment, state)


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    state = harness_state(environment)
    if state is None or state.reporting or isinstance(environment.runner, WorkerRunner):
        return
    if not state.started:
        if _signalled and getattr(state.opts, "headless", False):
            # Stopped before any test began: nothing was sent, there is nothing to report; an
            # interruption all the same, not the pass Locust's exit code 0 would say. Started by
            # loadsim, its own code tells loadsim so (which says it): a stale summary.json cannot.
            environment.process_exit_code = _not_started()
        return
    # Locust's run-time limit, a shape that ends and an SLO abort all stop the test before the
    # process quits; a quit that finds the test still running came from a signal (Ctrl-C, SIGTERM).
    runner = environment.runner
    state.interrupted = bool(_signalled) or (runner is not None and runner.state in ("running", "spawning"))
    _stop_the_test(environment, state)
    write_report(environment, state)


def write_report(environment: Environment, state: HarnessState) -> Path | None:
    """Reconcile (against the mock), write the report files, set the process's exit code.

    Until the files are written the exit code says "harness error": a crash anywhere on the way
    must never leave a run that looks passed.
    """
    if state.reporting:
        return None
    state.reporting = True
    environment.process_exit_code = 2
    try:
        ctx = state.context
        stats = state.stats if ctx is None else ctx.stats
        exhausted = state.exhausted or (ctx is not None and ctx.exhausted)
        target = _target(state, environment)
        admin = _mock_admin(state, environment)
        reconciliation = try_reconcile(stats, admin, state.mock_baseline) if admin else None
        profile = state.profile
        assert profile is not None  # set at init, or the process exited
        # The load ran until the stop; a master then waits for its workers' last figures, and the
        # mock is reconciled: seconds no load ran, that the achieved rate must not divide by.
        ended = state.stopped_at or time.time()
        plan = _plan(state, profile, stats, ended)
        slo = state.scenario.slo
        if state.opts.mock_admin == NO_MOCK_ADMIN:  # the user's word: a collector with nothing to reconcile
            slo = dataclasses.replace(slo, reconciliation=False)
        verdicts = evaluate(
            slo, stats=stats, duration_s=ended - state.started, reconciliation=reconciliation, plan=plan
        )
        replay = (
            state.replay.outcome(interrupted=state.interrupted, elapsed=ended - state.started) if state.replay else None
        )
        if replay is not None and replay.verdict is not None:
            verdicts.append(replay.verdict)
        if state.lost_workers:
            # Their figures since their last periodic report are missing: whatever the SLOs say of
            # the rest, the report is not the whole run's.
            verdicts.append(Verdict(LOST_WORKERS, 0, len(state.lost_workers), False))
        samples = cpu_samples(stats)
        if slo.generator_saturation == "fail":
            busiest = round(max(samples, default=0.0), 1)
            verdicts.append(
                Verdict(
                    f"generator CPU under {slo.max_generator_cpu:g}% (slo.generator_saturation = fail)",
                    slo.max_generator_cpu,
                    busiest,
                    not saturated(samples, slo.max_generator_cpu),
                    "%",
                )
            )
        summary = build_summary(
            stats=stats,
            scenario=state.scenario.name,
            seed=state.scenario.seed,
            target=target.describe(),
            model=state.scenario.load.model,
            started=state.started,
            ended=ended,
            workers=state.workers,
            reconciliation=reconciliation,
            target_rate=plan.rate,  # over the arrival window, as the achieved rate is
            achieved_rate=plan.achieved,
            rate_unit=plan.rate_unit,
            planned_arrivals=plan.arrivals,
            stages=_stage_rows(state, profile, stats, ended),
            min_rate_share=slo.min_rate_share if slo.completion else None,
            # A replay plans no time of its own (it plays its dataset out) unless --run-time gives one.
            planned_s=state.replay.run_time if state.replay else profile.duration,
            interrupted=state.interrupted,
            aborted=state.aborted,
            exhausted=exhausted,
            verdicts=verdicts,
            cpu_samples=samples,
            saturated_at=slo.max_generator_cpu,
            journey=state.scenario.journey,
            replay=replay.to_dict() if replay is not None else None,
            lost_workers=state.lost_workers,
        )
        report_dir = Path(state.opts.report_dir or default_report_dir(state.scenario.name, state.started))
        web_ui = _in_web_ui(environment, state)
        if web_ui:
            summary["warnings"].append(NO_STATS_HISTORY)
        junit = junit_xml(
            verdicts, suite=state.scenario.name, duration_s=ended - state.started, interrupted=interruption(summary)
        )
        try:
            write_summary(report_dir, summary, stats, junit=junit)
        except OSError as exc:
            # A full disk loses the files, not the verdict: the log (a CI job's) keeps it.
            log.error(
                "loadsim: could not write the report in %s (%s); its verdict was %s: %s. Its summary.md:\n%s",
                report_dir,
                exc.strerror or exc,
                summary["result"],
                summary["reason"],
                summary_markdown(summary),
            )
            return None
        state.report_dir = report_dir
        # After ours: Locust's own page is the extra (in the web UI, with its CSV files: below).
        page, page_missing = _locust_html_path(state, report_dir), False
        if page is not None:
            try:
                write_locust_html(environment, page)
            except OSError as exc:
                log.error("loadsim: could not write Locust's page %s (%s)", page, exc.strerror or exc)
                page_missing = state.locust_html is not None
                if page_missing:  # loadsim's last line names it, beside the verdict (runner.run)
                    summary["harness_problems"] = [f"--html {page} was not written ({exc.strerror or exc})"]
                    with contextlib.suppress(OSError):  # the disk that refused the page: logged above
                        write_summary_json(report_dir, summary)
        if web_ui:  # here, not after: a test stopped by quitting the UI has no "after" in this process
            try:
                write_locust_files(environment, report_dir)
            except OSError as exc:
                log.error("loadsim: could not write Locust's files in %s (%s)", report_dir, exc.strerror or exc)
    except Exception:  # a report that cannot be made is a harness error, never a silent pass
        log.exception("loadsim: could not write the report")
        return None
    finally:
        state.reported = True  # done, one way or the other (the web UI waits on it)
    environment.process_exit_code = EXIT_CODES[summary["result"]]
    if page_missing:
        environment.process_exit_code = 2  # a file asked for is missing: a harness error, its verdict logged
    if replay is not None and replay.problem:
        environment.process_exit_code = 2  # the dataset is at fault, not the target: a harness error, reported
    for v in verdicts:
        (log.info if v.passed else log.error)("SLO %s", v)
    log.info("loadsim report written to %s (%s)", report_dir, summary["result"])
    return report_dir


def _locust_html_path(state: HarnessState, report_dir: Path) -> Path | None:
    """Where a headless run's Locust page goes: ``--html F`` (Locust's ``{u}``, ``{r}``, ``{t}`` filled
    in, as Locust would), else ``locust.html`` beside the report; None in the web UI (``write_locust_files``)."""
    if not getattr(state.opts, "headless", False):
        return None
    if state.locust_html is None:
        return report_dir / "locust.html"
    from locust.html import process_html_filename

    named = copy.copy(state.opts)
    named.html_file = state.locust_html
    process_html_filename(named)
    return Path(named.html_file)


#: Said in a web UI test's report: the one file of a headless run's it cannot hold.
NO_STATS_HISTORY = (
    "no locust_stats_history.csv: Locust keeps that per-second history only for a run started with --csv "
    "(a headless loadsim run), never in its web UI; stats.json holds the harness's own timeline"
)


def write_locust_files(environment: Environment, report_dir: Path) -> None:
    """A web UI test's Locust files, as a headless ``loadsim run`` has them (its ``--csv`` and page):
    ``locust.html`` and ``locust_stats.csv``, ``locust_failures.csv``, ``locust_exceptions.csv``."""
    import csv

    from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

    write_locust_html(environment, report_dir / "locust.html")
    tables = StatsCSV(environment, PERCENTILES_TO_REPORT)
    for name, write in (
        ("stats", tables.requests_csv),
        ("failures", tables.failures_csv),
        ("exceptions", tables.exceptions_csv),
    ):
        with (report_dir / f"locust_{name}.csv").open("w", newline="", encoding="utf-8") as f:
            write(csv.writer(f))


def write_locust_html(environment: Environment, page: Path) -> None:
    """Locust's own page of the test in ``environment``, at ``page``. The harness writes it after its
    own files: Locust's ``--html`` is written before the harness's report, and a failure there (a
    full disk) would lose the report with it."""
    from locust.html import get_html_report

    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(get_html_report(environment, show_download_link=False), encoding="utf-8")


#: The process's exit code for each result: an interrupted run that failed nothing is not a pass.
EXIT_CODES = {"PASSED": 0, "FAILED": 1, "INTERRUPTED": 3}


def _arrival_window(state: HarnessState, profile: LoadProfile, stats: RunStats, ended: float) -> float | None:
    """Open model: the seconds the scheduler ran, on its own clock, from its start to the stop (None
    for the closed model or a run without arrivals)."""
    if state.scenario.load.model != "open" or not stats.arrival_first:
        return None
    stop = (state.stopped_at or ended) - state.started
    first = stats.arrival_first - state.started
    # The scheduler starts once the devices are ready, a moment after the test, and plays the
    # stages on its own clock, whose first arrival is due one interval after it starts. Read on
    # the test's clock, a ramp's plan was shifted by that moment: a 2 s stage at 30/s counted
    # whole in a window that had lost the end of the last stage.
    rate0 = profile.planned_arrivals(0.0, 1.0) or 1.0
    return stop - max(0.0, first - 1.0 / rate0)


def _plan(state: HarnessState, profile: LoadProfile, stats: RunStats, ended: float) -> Plan:
    """Open model: the arrivals the stages planned from the scheduler's start to the stop."""
    load = state.scenario.load
    window = _arrival_window(state, profile, stats, ended)
    if window is None:
        return Plan(rate_unit=load.rate_unit)
    rate = profile.planned_rate(0.0, window)
    # Handed over the same window as planned, in the same unit: achieved is to target as handed to planned.
    given = handed(stats, load.rate_unit)
    return Plan(
        arrivals=round(profile.planned_arrivals(0.0, window), 1),
        rate_unit=load.rate_unit,
        rate=None if rate is None else round(rate, 3),
        achieved=round(given / window, 3) if window > 0 else None,
    )


def _stage_rows(state: HarnessState, profile: LoadProfile, stats: RunStats, ended: float) -> list[dict[str, Any]]:
    """Open model with stages: each stage's target and achieved rate, and its drops. The run's share
    averages a flash sale's peak with its calm: a collector that kept up only at the calm passes it."""
    window = _arrival_window(state, profile, stats, ended)
    if window is None or len(profile.stages) < 2:
        return []
    requests = state.scenario.load.rate_unit == "requests"
    rows = []
    for i, (lo, hi) in enumerate(profile.stage_windows(window)):
        arrivals, dropped, handed_requests = stats.stage_arrivals.get(str(i), [0, 0, 0])
        handed = handed_requests if requests else arrivals - dropped
        rows.append(
            {
                "stage": i + 1,
                "from_s": round(lo, 3),
                "to_s": round(hi, 3),
                "target_rate": profile.stages[i][3],
                "planned": round(profile.planned_arrivals(lo, hi), 1),
                "scheduled": arrivals,
                "dropped": dropped,
                "achieved_rate": round(handed / (hi - lo), 3) if hi > lo else None,
            }
        )
    return rows
