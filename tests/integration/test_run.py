"""``loadsim run`` end to end: real processes on loopback, each run bounded in time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import subprocess_env

pytestmark = pytest.mark.integration

LOADSIM = [sys.executable, "-m", "simulator"]


def loadsim_run(tmp_path: Path, *args: str, timeout: float = 120) -> tuple[int, str, dict[str, Any]]:
    report = tmp_path / "report"
    proc = subprocess.run(
        [*LOADSIM, "run", "--report-dir", str(report), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    summary_file = report / "summary.json"
    summary = orjson.loads(summary_file.read_bytes()) if summary_file.is_file() else {}
    return proc.returncode, proc.stdout + proc.stderr, summary


def test_smoke_run_passes_and_writes_its_report(tmp_path: Path) -> None:
    code, out, summary = loadsim_run(tmp_path, "smoke", "--run-time", "8s")
    assert code == 0, out
    assert summary["schema_version"] == 1 and summary["scenario"] == "smoke" and summary["workers"] == 1
    assert set(summary["endpoints"]) == {"externalIds", "identify", "events"}
    assert summary["total"]["count"] > 50 and summary["total"]["failures"] == 0
    assert summary["reconciliation"]["ok"], summary["reconciliation"]
    # Healthy devices, one session at a time each: the collector sees nothing odd in the traffic
    # (an event identifying by an email before the identify that named it was one, every run).
    assert not any(summary["reconciliation"]["mock"]["warnings"].values()), summary["reconciliation"]["mock"]
    # every session starts with externalIds, so it is the most common step but for events
    assert summary["steps"]["externalIds"]["count"] == summary["endpoints"]["externalIds"]["count"]
    # ...and the funnel counts each of them, the sessions the stop cut short too (it dropped one a user)
    sessions = next(s for s in summary["funnel"]["stages"] if s["stage"] == "sessions")
    assert sessions["count"] == summary["endpoints"]["externalIds"]["count"], summary["funnel"]
    report = tmp_path / "report"
    for name in ("summary.md", "stats.json", "locust.html", "locust_stats.csv"):
        assert (report / name).is_file(), name
    assert "Reconciliation: OK" in (report / "summary.md").read_text()


def test_plain_locust_refuses_a_customerlabs_host_for_the_mock_target(tmp_path: Path) -> None:
    """The README's `locust -f "$(loadsim locustfile)" --host URL` with the mock target. Before: a
    CustomerLabs host got the whole load, unconfirmed and uncapped (loadsim run refused it; plain
    Locust did not). A .invalid name never resolves (RFC 6761): nothing can leave the machine."""
    from simulator.loadtest.runner import locustfile

    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(locustfile()), "--headless", "-u", "1", "-t", "3s",
         "--host", "https://api.customerlabs.invalid", "--scenario", "smoke", "--report-dir", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=120, env=subprocess_env(), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--host https://api.customerlabs.invalid is CustomerLabs'" in proc.stderr, proc.stderr
    assert not (tmp_path / "r" / "summary.json").exists()


def test_plain_locust_says_the_scenarios_warnings_as_loadsim_run_does_once(tmp_path: Path) -> None:
    """Before: `locust -f tracking.py --scenario S` played a scenario with an unreachable state and said
    nothing of it; `loadsim run` says it (once: its Locust process does not say it again)."""
    from simulator.loadtest.runner import locustfile

    scenario = tmp_path / "warn.toml"
    scenario.write_text('extends = "smoke"\n[journey.states]\norphan = { event = "Orphan" }\n', encoding="utf-8")
    warning = "journey.states.orphan: warning: unreachable: no transition with p above 0 leads to it"
    mock, url = start_mock()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(locustfile()), "--headless", "-u", "1", "-t", "2s",
             "--host", url, "--scenario", str(scenario), "--report-dir", str(tmp_path / "r"), "--only-summary"],
            capture_output=True, text=True, timeout=120, env=subprocess_env(), cwd=tmp_path,
        )  # fmt: skip
    finally:
        stop(mock)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.count(warning) == 1, proc.stderr[-2000:]
    code, out, _ = loadsim_run(tmp_path, str(scenario), "--run-time", "2s")
    assert code == 0 and out.count(warning) == 1, out


def test_a_run_in_the_folder_of_an_earlier_one_stores_only_its_own_requests(tmp_path: Path) -> None:
    """Before: the embedded mock appended to the mock.sqlite3 an earlier run left in --report-dir: 815 rows
    for a run that got 285 requests stored."""
    import sqlite3

    store = tmp_path / "report" / "mock.sqlite3"
    for _ in range(2):
        code, out, summary = loadsim_run(tmp_path, "smoke", "--run-time", "3s")
        assert code == 0, out
        with sqlite3.connect(store) as db:
            rows = db.execute("SELECT count(*) FROM accepted").fetchone()[0]
        stored = sum(e["stored"] for e in summary["reconciliation"]["endpoints"].values())
        assert rows == stored > 0, summary["reconciliation"]
    assert (tmp_path / "report" / "mock.log").read_text().count("loadsim mock stopped") == 1  # its log, too


@pytest.mark.parametrize(
    "args",
    [["--endpoint", "identify", "--run-time", "3s"], ["--run-time", "3s", "--", "--endpoint", "identify"]],
    ids=["flag", "after-double-dash"],
)
def test_run_with_endpoint_loads_that_endpoint_alone(tmp_path: Path, args: list[str]) -> None:
    """The README lists `loadsim run ... --endpoint E`: it used to be accepted and ignored (the
    journeys played); it plays the endpoint locustfile, one endpoint's bodies back to back.
    After --, it was ignored still: events 136, externalIds 22, identify 2, PASSED."""
    scenario = tmp_path / "calm.toml"
    scenario.write_text('extends = "smoke"\n[slo]\nlatency = []\n')  # smoke's SLOs name events
    code, out, summary = loadsim_run(tmp_path, str(scenario), *args)
    assert code == 0, out
    assert set(summary["endpoints"]) == {"identify"} and summary["total"]["count"] > 0, summary["endpoints"]
    assert summary["reconciliation"]["ok"], summary["reconciliation"]


def test_two_processes_play_disjoint_shards_and_reconcile(tmp_path: Path) -> None:
    code, out, summary = loadsim_run(tmp_path, "smoke", "--run-time", "10s", "--processes", "2")
    assert code == 0, out
    assert summary["workers"] == 2
    assert summary["reconciliation"]["ok"], summary["reconciliation"]
    endpoints = summary["reconciliation"]["endpoints"]
    assert endpoints["externalIds"]["acknowledged"] == summary["endpoints"]["externalIds"]["count"] > 0


def test_bad_scenario_is_a_configuration_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "smoke"\n[population]\ndevics = 3\n')
    code, out, _ = loadsim_run(tmp_path, str(bad), "--run-time", "5s")
    assert code == 2
    assert "population.devics" in out and "devices" in out


def test_planted_loss_fails_reconciliation(tmp_path: Path) -> None:
    """A mock that answers 200 without storing: the run must say bodies were lost and exit 1."""
    mock, url = start_mock("--drop-rate", "0.2", "--seed", "3")
    try:
        code, out, summary = loadsim_run(tmp_path, "smoke", "--run-time", "6s", "--host", url)
    finally:
        stop(mock)
    assert code == 1, out
    rec = summary["reconciliation"]
    assert not rec["ok"] and any("lost" in d for d in rec["differences"]), rec


@pytest.mark.parametrize(
    ("how", "processes"),
    [("ctrl-c", 1), ("ctrl-c", 2), ("sigterm", 2)],
    ids=["ctrl-c", "ctrl-c-2-processes", "sigterm-2-processes"],
)
def test_stopping_early_still_writes_the_whole_report(tmp_path: Path, how: str, processes: int) -> None:
    """Ctrl-C (the terminal signals the whole foreground group) or SIGTERM (a CI timeout) mid-run:
    the report holds everything that was sent, workers' last seconds included, and reconciles."""
    report = tmp_path / "report"
    extra = ["--processes", str(processes)] if processes > 1 else []
    # smoke without its latency SLOs: a loaded CI host must not turn INTERRUPTED into FAILED
    scenario = tmp_path / "calm.toml"
    scenario.write_text('extends = "smoke"\n[slo]\nlatency = []\n')
    proc = subprocess.Popen(
        [*LOADSIM, "run", str(scenario), "--run-time", "60s", "--report-dir", str(report), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (report / "mock.sqlite3").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(6)  # let it send something
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert summary["total"]["count"] > 0, out
    assert summary["timing"]["duration_s"] < 50
    assert summary["reconciliation"]["ok"], summary["reconciliation"]
    # interrupted is not a pass: its own result, exit code 3, the planned time beside the actual one
    assert summary["result"] == "INTERRUPTED" and summary["interrupted"], summary["reason"]
    assert summary["timing"]["planned_s"] == 60
    assert proc.returncode == 3, out


def test_ctrl_c_on_locust_with_processes_still_reconciles(tmp_path: Path) -> None:
    """Locust run directly with --processes: Ctrl-C reaches the master and every worker at once,
    and each worker must still ship its last figures before it tells the master it quits."""
    mock, url = start_mock()
    report = tmp_path / "report"
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(Path("simulator/locustfiles/tracking.py").resolve()),
                "--headless",
                "--host",
                url,
                "--scenario",
                "smoke",
                "--processes",
                "2",
                "--master-bind-host",
                "127.0.0.1",
                "--report-dir",
                str(report),
                "--only-summary",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=subprocess_env(),
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            time.sleep(8)  # start-up and a few seconds of traffic
            os.killpg(proc.pid, signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    finally:
        stop(mock)
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert summary["total"]["count"] > 0 and summary["workers"] == 2, out
    assert summary["reconciliation"]["ok"], summary["reconciliation"]


def start_mock(*flags: str) -> tuple[subprocess.Popen[str], str]:
    mock = subprocess.Popen(
        [sys.executable, "-m", "simulator.mock", "--port", "0", "--store", ":memory:", *flags],
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    assert mock.stdout is not None
    return mock, mock.stdout.readline().rsplit(" ", 1)[-1].strip()


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)


def test_open_model_holds_its_target_rate(tmp_path: Path) -> None:
    code, out, summary = loadsim_run(
        tmp_path, "smoke", "--load-model", "open", "--rate", "25", "--users", "40", "--run-time", "10s"
    )
    assert code == 0, out
    arrivals = summary["arrivals"]
    assert arrivals["target_rate"] == 25 and arrivals["dropped"] == 0
    assert arrivals["achieved_rate"] == pytest.approx(25, rel=0.05), arrivals
    assert summary["load_model"] == "open"


def test_an_open_model_far_past_what_the_host_sends_still_ends_on_time(tmp_path: Path) -> None:
    """Before: at a rate the generator cannot keep, the arrival loop never slept, so nothing else ran:
    the run time's stop, the users and Ctrl-C all wait on gevent's hub. No end, no report."""
    started = time.monotonic()
    code, out, summary = loadsim_run(
        tmp_path, "smoke", "--load-model", "open", "--rate", "1000000", "--users", "5", "--run-time", "3s",
        timeout=90,
    )  # fmt: skip
    assert time.monotonic() - started < 60, out
    assert code == 1 and not summary["passed"], out  # the rate was not held: said, not hidden
    failed = {slo["name"] for slo in summary["slo"] if not slo["passed"]}
    assert "achieved rate >= 90% of the planned rate" in failed, summary["slo"]
    assert summary["reconciliation"]["ok"], summary["reconciliation"]


def test_a_staged_open_model_reports_the_rate_it_planned_over_the_run(tmp_path: Path) -> None:
    """Before: "target 3/s, achieved 12/s": the first stage's rate beside the whole run's. The
    target is now the stages' planned arrivals over the run's seconds, like the achieved rate."""
    scenario = tmp_path / "ramp.toml"
    scenario.write_text(
        'extends = "smoke"\n[load]\nmodel = "open"\nusers = 60\nstages = [\n'
        '  { duration = "2s", rate = 3 },\n  { duration = "2s", rate = 30 },\n  { duration = "2s", rate = 3 },\n]\n'
    )
    code, out, summary = loadsim_run(tmp_path, str(scenario))
    # A healthy target, nothing dropped: "achieved rate >= 90% of the planned rate" holds (it read
    # 87%: the scheduler kept the 3/s interval into the 30/s stage, a third of a second of it).
    assert code == 0, out
    arrivals = summary["arrivals"]
    assert arrivals["target_rate"] == pytest.approx((2 * 3 + 2 * 30 + 2 * 3) / 6, rel=0.1), arrivals
    assert arrivals["achieved_rate"] == pytest.approx(arrivals["target_rate"], rel=0.15), arrivals
    # Over one window: achieved is to target as handed is to planned (it read 5.335/s achieved of a
    # 4.641/s target with fewer arrivals scheduled than planned: first to last arrival, against the window).
    handed = arrivals["scheduled"] - arrivals["dropped"]
    assert arrivals["achieved_rate"] / arrivals["target_rate"] == pytest.approx(handed / arrivals["planned"], rel=0.01)
    assert f"target {arrivals['target_rate']} sessions/s" in (tmp_path / "report" / "summary.md").read_text()
    stages = arrivals["stages"]  # each stage on its own, on the scheduler's clock
    assert [(r["stage"], r["target_rate"]) for r in stages] == [(1, 3), (2, 30), (3, 3)], stages
    assert [r["to_s"] for r in stages[:2]] == [2, 4] and stages[2]["to_s"] >= 5.5, stages
    assert stages[1]["achieved_rate"] == pytest.approx(30, rel=0.2), stages
    assert sum(r["scheduled"] for r in stages) == arrivals["scheduled"] and not summary["warnings"], summary


def test_an_open_model_in_requests_reports_its_rates_in_requests(tmp_path: Path) -> None:
    """Before: rate_unit = "requests", rate 30: "Arrivals: 229.5 planned, 31 scheduled, 0 dropped (target
    30.0/s, achieved 3.974/s)": planned and target in requests, achieved in sessions, unnamed."""
    scenario = tmp_path / "requests.toml"
    scenario.write_text('extends = "smoke"\n[load]\nmodel = "open"\nrate = 30\nrate_unit = "requests"\nusers = 20\n')
    code, out, summary = loadsim_run(tmp_path, str(scenario), "--run-time", "6s")
    assert code == 0, out
    arrivals = summary["arrivals"]
    assert arrivals["unit"] == "requests" and arrivals["target_rate"] == 30, arrivals
    ratio = arrivals["achieved_rate"] / arrivals["target_rate"]
    assert ratio == pytest.approx(summary["total"]["count"] / arrivals["planned"], rel=0.01), (
        arrivals,
        summary["total"],
    )
    line = next(x for x in (tmp_path / "report" / "summary.md").read_text().splitlines() if x.startswith("Arrivals:"))
    assert f"{arrivals['planned']:g} requests planned" in line and "achieved" in line, line
    assert f"target {arrivals['target_rate']} requests/s, achieved {arrivals['achieved_rate']} requests/s" in line, line


def test_workers_play_the_stages_as_run_time_scaled_them(tmp_path: Path) -> None:
    """Locust gives its workers no --run-time, so each built the scenario's own stages: with
    --processes 2, flash-sale --run-time 20s never reached its flash (96 sessions, all at the calm
    rate; FAILED 'achieved rate >= 90% of the planned rate: actual 21.1%')."""
    scenario = tmp_path / "ramp.toml"
    scenario.write_text(
        'extends = "smoke"\n[load]\nmodel = "open"\nusers = 60\nstages = [\n'
        '  { duration = "20s", rate = 3 },\n  { duration = "20s", rate = 30 },\n]\n'
    )
    code, out, summary = loadsim_run(tmp_path, str(scenario), "--run-time", "6s", "--processes", "2")
    assert code == 0, out
    calm, peak = summary["arrivals"]["stages"]
    assert (calm["to_s"], calm["target_rate"], peak["target_rate"]) == (3, 3, 30), summary["arrivals"]
    assert peak["achieved_rate"] == pytest.approx(30, rel=0.25), summary["arrivals"]


def test_a_stage_that_falls_short_is_named_where_the_run_averages_it_away(tmp_path: Path) -> None:
    """Before: the report had one target and one achieved rate for the run: a peak the collector could
    not take showed only as the run's average."""
    scenario = tmp_path / "peak.toml"
    scenario.write_text(
        'extends = "smoke"\n[load]\nmodel = "open"\nusers = 3\nstages = [\n'
        '  { duration = "4s", rate = 1 },\n  { duration = "4s", rate = 20 },\n]\n'
        '[target.mock]\nlatency = "300ms"\n'
    )
    code, out, summary = loadsim_run(tmp_path, str(scenario))
    assert code == 1, out  # the run's own share fails too: 3 busy users cannot take 20 sessions a second
    calm, peak = summary["arrivals"]["stages"]
    assert calm["target_rate"] == 1 and calm["dropped"] == 0, calm
    assert peak["target_rate"] == 20 and peak["achieved_rate"] < 10 and peak["dropped"] > 30, peak
    said = [w for w in summary["warnings"] if w.startswith("stage 2 (4-")]
    assert len(said) == 1 and "of its target 20/s" in said[0], summary["warnings"]
    md = (tmp_path / "report" / "summary.md").read_text()
    assert "| stage | seconds | target /s | achieved /s |" in md and said[0] in md, md
    assert "Arrivals by stage" in (tmp_path / "report" / "report.html").read_text()


def freeze_under_load(url: str, *, after_events: int = 30, seconds: float = 2.0) -> threading.Thread:
    """Freeze the mock for ``seconds`` through its admin API once it has taken some load."""

    def freeze() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{url}/_admin/stats", timeout=5) as r:
                if orjson.loads(r.read())["accepted"]["events"] > after_events:
                    break
            time.sleep(0.2)
        put = urllib.request.Request(
            f"{url}/_admin/faults",
            method="PUT",
            data=orjson.dumps({"freeze_at": 0, "freeze_for": seconds}),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(put, timeout=5).close()

    thread = threading.Thread(target=freeze, daemon=True)
    thread.start()
    return thread


def test_open_model_shows_a_frozen_target(tmp_path: Path) -> None:
    """A 2 s freeze: arrivals find every user stuck (dropped), and latency from the intended start shows it."""
    mock, url = start_mock()
    freezer = freeze_under_load(url)
    try:
        code, out, summary = loadsim_run(
            tmp_path,
            "smoke",
            "--host",
            url,
            "--load-model",
            "open",
            "--rate",
            "20",
            "--users",
            "10",
            "--run-time",
            "10s",
        )
    finally:
        stop(mock)
        freezer.join(5)
    assert code in (0, 1), out  # SLOs may fail; the harness must not
    assert summary["arrivals"]["dropped"] > 0, out
    total = summary["total"]
    assert total["max_ms"] >= 1000  # a request caught in the freeze waited for it
    assert total["p99_ms"] > total["service_time"]["p50_ms"] * 10


def test_closed_model_figures_hide_the_stall_that_the_open_model_shows(tmp_path: Path) -> None:
    """Coordinated omission: in the closed model the stalled users simply send less, so Locust's own
    p99 stays low through a 2 s freeze; the open model's p99, from the intended start, includes it."""
    import csv

    p99: dict[str, float] = {}
    # closed: users send back to back (as a load test tuned for throughput does); ecommerce's
    # 5000 devices last the whole run
    for model, extra in (
        ("closed", ["--users", "10", "--", "--think-scale", "0"]),
        ("open", ["--rate", "25", "--users", "40", "--", "--think-scale", "0.02"]),
    ):
        mock, url = start_mock()
        freezer = freeze_under_load(url, after_events=200)
        run_dir = tmp_path / model
        run_dir.mkdir()
        try:
            _, _, summary = loadsim_run(
                run_dir, "ecommerce", "--host", url, "--load-model", model, "--run-time", "10s", *extra
            )
        finally:
            stop(mock)
            freezer.join(5)
        with (run_dir / "report" / "locust_stats.csv").open() as f:
            row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
        p99[f"locust {model}"] = float(row["99%"])
        p99[f"loadsim {model}"] = summary["total"]["p99_ms"]
    assert p99["locust closed"] < 1000 <= p99["loadsim open"], p99


def test_abort_on_fail_stops_the_run_after_the_grace_period(tmp_path: Path) -> None:
    scenario = tmp_path / "strict.toml"
    scenario.write_text(
        'extends = "smoke"\n[slo]\nabort_on_fail = true\ngrace = "3s"\n'
        "[[slo.latency]]\npercentile = 50\nmax_ms = 0.001\n"
    )
    code, out, summary = loadsim_run(tmp_path, str(scenario), "--run-time", "60s")
    assert code == 1, out
    assert summary["timing"]["duration_s"] < 20  # stopped at the first status check after 3 s
    assert "SLO failed during the run" in out


def test_identity_stitching_reconciles_with_the_mock(tmp_path: Path) -> None:
    """Reinstalls and two-device people: the merges the journeys imply are the merges the mock made."""
    code, out, summary = loadsim_run(tmp_path, "identity", "--run-time", "12s")
    assert code == 0, out
    merges = summary["reconciliation"]["merges"]
    assert merges["checked"] and merges["made"] > 0, merges


def test_harness_arguments_come_from_a_locust_conf(tmp_path: Path) -> None:
    """The custom arguments are Locust arguments: a locust.conf (or [tool.locust]) can set them."""
    mock, url = start_mock()
    report = tmp_path / "report"
    (tmp_path / "locust.conf").write_text(
        f"locustfile = {Path('simulator/locustfiles/tracking.py').resolve()}\nheadless = true\nhost = {url}\n"
        f"scenario = identity\nseed = 99\nrun-time = 5s\nreport-dir = {report}\nonly-summary = true\n"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "locust", "--config", "locust.conf"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=90,
            env=subprocess_env(),
        )
    finally:
        stop(mock)
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert summary["scenario"] == "identity" and summary["seed"] == 99


def test_a_capped_memory_store_is_named_and_reconciliation_still_passes(tmp_path: Path) -> None:
    """A ``:memory:`` mock with a tiny ``--memory-store-cap`` keeps counts and digests, not bodies:
    reconciliation counts the stored rows (OK) and the report names what the cap dropped."""
    mock, url = start_mock("--memory-store-cap", "20000")
    try:
        code, out, summary = loadsim_run(tmp_path, "smoke", "--run-time", "6s", "--host", url)
    finally:
        stop(mock)
    assert code == 0, out
    rec = summary["reconciliation"]
    assert rec["ok"], rec
    dropped = rec["mock"]["bodies_dropped"]
    assert dropped > 0, rec
    said = f"the mock kept counts and digests but not the bodies of {dropped:,} requests"
    assert said in (tmp_path / "report" / "summary.md").read_text()
    assert said in (tmp_path / "report" / "report.html").read_text()


def test_two_runs_with_processes_on_one_host_do_not_share_a_master_port(tmp_path: Path) -> None:
    """Each ``--processes`` run binds its master on a free loopback port of its own: two at once on
    one host neither collide ("Address already in use") nor have workers join the other's master."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    results: dict[str, tuple[int, str, dict[str, Any]]] = {}

    def one(name: str, where: Path) -> None:
        # One worker each: a worker that joined the other run's master would make it 2 (and two
        # masters with two workers each on a 2-core CI machine is a load test of the machine).
        results[name] = loadsim_run(where, "smoke", "--run-time", "8s", "--processes", "1", timeout=150)

    threads = [threading.Thread(target=one, args=(n, p)) for n, p in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert set(results) == {"a", "b"}
    for name, (code, out, summary) in results.items():
        assert code == 0, f"run {name}:\n{out}"
        assert summary["workers"] == 1, name
        assert summary["reconciliation"]["ok"], summary["reconciliation"]
