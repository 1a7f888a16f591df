"""Locust's distributed mode on loopback: a master and two worker processes against a mock subprocess.

What scale-out must keep: each device played on exactly one worker (its shard), the master's merged
counts equal to what the mock stored, reconciliation passing, and the report of a one-process run.
"""

from __future__ import annotations

import csv
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from simulator.journey import JourneyEngine
from simulator.loadtest.runner import locustfile
from simulator.population import Population
from simulator.scenario import load_scenario
from tests.conftest import subprocess_env

pytestmark = pytest.mark.integration

LOCUST = [sys.executable, "-m", "locust", "-f", str(locustfile())]
#: More devices than two workers can finish in the run, so each plays only the start of its shard;
#: no latency SLOs (a busy CI machine must not fail a test of correctness), errors and loss still fail.
SCENARIO = 'extends = "smoke"\nname = "distributed"\n[population]\ndevices = 2000\n[slo]\nlatency = []\n'


def master_command(port: int, *args: str) -> list[str]:
    """A headless master on loopback ``port`` that waits up to 60 s for two workers, then ``args``."""
    waits = ["--expect-workers", "2", "--expect-workers-max-wait", "60"]
    return [
        *LOCUST,
        "--headless",
        "--master",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
        *waits,
        *args,
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_mock(store: Path) -> tuple[subprocess.Popen[str], str]:
    mock = subprocess.Popen(
        [sys.executable, "-m", "simulator.mock", "--host", "127.0.0.1", "--port", "0", "--store", str(store)],
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    assert mock.stdout is not None
    return mock, mock.stdout.readline().rsplit(" ", 1)[-1].strip()


def sessions_by_device(scenario_path: Path) -> tuple[dict[str, int], int]:
    """Every session id the scenario's devices would ever open -> the device's global index."""
    scenario = load_scenario(str(scenario_path))
    population = Population.build(config=scenario.population, app=scenario.app, seed=scenario.seed)
    engine = JourneyEngine(scenario=scenario, population=population)
    owner: dict[str, int] = {}
    for i in range(len(population)):
        for req in engine.device_life(i, start_time=0.0):
            owner.setdefault(req.body["sid"], i)
    return owner, len(population)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One distributed run (about 20 s), shared by the checks below."""
    tmp_path = tmp_path_factory.mktemp("distributed")
    scenario = tmp_path / "distributed.toml"
    scenario.write_text(SCENARIO)
    store, report = tmp_path / "mock.sqlite3", tmp_path / "report"
    mock, url = start_mock(store)
    port = free_port()
    common = ["--scenario", str(scenario)]
    logs = [(tmp_path / f"{name}.log").open("w") for name in ("master", "worker0", "worker1")]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            subprocess.Popen(
                master_command(
                    port,
                    "--host",
                    url,
                    "--run-time",
                    "10s",
                    "--report-dir",
                    str(report),
                    "--csv",
                    str(report / "locust"),
                    *common,
                ),
                stdout=logs[0],
                stderr=subprocess.STDOUT,
                env=subprocess_env(),
                cwd=tmp_path,
            )
        )
        for log in logs[1:]:
            procs.append(
                subprocess.Popen(
                    # No --scenario: a worker plays what its master says (the checks below see "distributed").
                    [*LOCUST, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=subprocess_env(),
                    cwd=tmp_path,
                )
            )
        code = procs[0].wait(120)
        worker_codes = [p.wait(30) for p in procs[1:]]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for log in logs:
            log.close()
        mock.send_signal(signal.SIGTERM)  # flushes the store
        mock.wait(15)
    out = (tmp_path / "master.log").read_text()
    summary_file = report / "summary.json"
    assert code == 0 and worker_codes == [0, 0], "\n".join(
        [out, (tmp_path / "worker0.log").read_text(), summary_file.read_text() if summary_file.is_file() else ""]
    )
    with sqlite3.connect(store) as db:
        stored = db.execute("SELECT endpoint, sid FROM accepted").fetchall()
    return {
        "summary": orjson.loads(summary_file.read_bytes()),
        "stored": stored,
        "scenario": scenario,
        "report": report,
        "log": out,
    }


def test_each_device_plays_on_exactly_one_worker(run: dict[str, Any]) -> None:
    owner, devices = sessions_by_device(run["scenario"])
    externals = [sid for endpoint, sid in run["stored"] if endpoint == "externalIds"]
    # A device played by two workers would open its first session (same seeded sid) twice.
    assert len(externals) == len(set(externals)) > 0
    played = {owner[sid] for _, sid in run["stored"]}  # KeyError: a session no device of the scenario opens
    shards = [range(0, devices // 2), range(devices // 2, devices)]
    for shard in shards:
        mine = sorted(played & set(shard))
        # A worker takes its shard's devices in order: what it played is the start of its shard.
        assert mine and mine == list(range(shard.start, shard.start + len(mine))), (shard, mine[:5], mine[-5:])
    assert len(played) < devices  # the run was short enough that the shards' boundaries mean something


def test_the_master_merges_what_the_mock_stored(run: dict[str, Any]) -> None:
    summary = run["summary"]
    assert summary["workers"] == 2 and summary["scenario"] == "distributed"
    rec = summary["reconciliation"]
    assert rec["ok"], rec
    stored: dict[str, int] = {}
    for endpoint, _ in run["stored"]:
        stored[endpoint] = stored.get(endpoint, 0) + 1
    for endpoint in ("externalIds", "identify", "events"):
        row, r = summary["endpoints"][endpoint], rec["endpoints"][endpoint]
        acknowledged = row["count"] - row["failures"] - row["expected_rejections"]
        assert acknowledged == r["acknowledged"] > 0
        # Requests cut off when the run stopped may or may not have been stored; nothing else differs.
        assert acknowledged <= stored[endpoint] <= acknowledged + r["interrupted"], (endpoint, stored, r)
    # Locust's own statistics, merged by the master from the same workers, count the same requests.
    with (run["report"] / "locust_stats.csv").open() as f:
        locust_rows = {row["Name"]: int(row["Request Count"]) for row in csv.DictReader(f)}
    assert locust_rows.pop("Aggregated") == summary["total"]["count"]
    assert locust_rows == {step: s["count"] for step, s in summary["steps"].items()}


def test_the_runs_duration_is_the_time_its_load_ran(run: dict[str, Any]) -> None:
    # After the stop the master waits for its workers' last figures and reconciles: no load ran
    # then, and the achieved rate (a min_rate SLO's measure) divides by the duration.
    timing = run["summary"]["timing"]
    assert timing["planned_s"] == 10 and 10 <= timing["duration_s"] < 11.0, timing  # it read 11.514


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_master_stopped_while_it_waits_for_its_workers_stops_those_connected(tmp_path: Path, sig: int) -> None:
    """Before: Locust's master (its own TODO says so) left its connected workers running, after a
    KeyboardInterrupt traceback for Ctrl-C, or no word at all for SIGTERM (its handler comes later)."""
    from simulator.errors import NOT_STARTED

    scenario = tmp_path / "distributed.toml"
    scenario.write_text(SCENARIO)
    port = free_port()
    master = subprocess.Popen(
        # The host is never sent to: the test does not start.
        master_command(
            port, "--host", "http://127.0.0.1:9", "--report-dir", str(tmp_path / "report"), "--scenario", str(scenario)
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    worker = subprocess.Popen(
        [*LOCUST, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    try:
        assert master.stdout is not None
        lines = []
        for line in master.stdout:  # bounded: the master gives up after 60 s
            lines.append(line)
            if "1 of 2 connected" in line:
                break
        master.send_signal(sig)
        out = "".join(lines) + master.communicate(timeout=30)[0]
        worker_code = worker.wait(30)
    finally:
        for p in (master, worker):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert "1 of 2 connected" in out, out
    assert master.returncode == 3 and "Traceback" not in out, out
    assert NOT_STARTED.removeprefix("loadsim: ") in out, out
    assert worker_code == 0, "the connected worker was told to quit"
    assert not (tmp_path / "report").exists(), "nothing was sent: no report"


def play_distributed(
    tmp_path: Path, scenario_text: str, run_time: str, act: Callable[[subprocess.Popen[str], list[Any]], None]
) -> tuple[int, str, list[int], Path]:
    """A headless master and two workers on loopback against a mock subprocess; once every user is
    spawned, ``act(master, workers)``. (The master's exit code, its output, the workers' exit codes,
    the report folder.)"""
    scenario = tmp_path / "distributed.toml"
    scenario.write_text(scenario_text)
    mock, url = start_mock(tmp_path / "mock.sqlite3")
    port, report = free_port(), tmp_path / "report"
    command = master_command(port, "--host", url, "--run-time", run_time, "--report-dir", str(report))
    master = subprocess.Popen(
        [*command, "--scenario", str(scenario)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    workers = [
        subprocess.Popen(
            [*LOCUST, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=subprocess_env(),
            cwd=tmp_path,
        )
        for _ in range(2)
    ]
    try:
        assert master.stdout is not None
        lines = []
        for line in master.stdout:  # bounded: the run time
            lines.append(line)
            if "All users spawned" in line:
                break
        act(master, workers)
        out = "".join(lines) + master.communicate(timeout=90)[0]
        worker_codes = [w.wait(30) for w in workers]
    finally:
        for p in (master, *workers):
            if p.poll() is None:
                p.kill()
                p.wait()
        mock.send_signal(signal.SIGTERM)
        mock.wait(15)
    return master.returncode, out, worker_codes, report


def test_sigterm_to_a_master_mid_test_writes_the_interrupted_report(tmp_path: Path) -> None:
    """A CI job cancelled during a run across machines. Before: the master died of it (exit -15), with
    no report at all: Locust's own SIGTERM handler never ran in a headless master."""
    code, out, worker_codes, report = play_distributed(
        tmp_path, SCENARIO, "60s", lambda master, _: master.send_signal(signal.SIGTERM)
    )
    assert code == 3, out[-3000:]
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert summary["result"] == "INTERRUPTED", summary["reason"]
    assert summary["reconciliation"]["ok"], summary["reconciliation"]
    assert worker_codes == [0, 0]


def test_sigterm_to_plain_headless_locust_mid_test_writes_the_interrupted_report(tmp_path: Path) -> None:
    """The README's `locust -f "$(loadsim locustfile)" --headless`, one process, cancelled by CI.
    Before: killed by it (exit -15), no report: Locust installs its own SIGTERM handler only after
    the load shape's run, and a SIGTERM before that is Python's default."""
    scenario = tmp_path / "calm.toml"
    scenario.write_text(SCENARIO)
    mock, url = start_mock(tmp_path / "mock.sqlite3")
    report = tmp_path / "report"
    args = ["--headless", "--host", url, "--run-time", "60s", "--report-dir", str(report), "--scenario", str(scenario)]
    locust = subprocess.Popen(
        [*LOCUST, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    try:
        assert locust.stdout is not None
        lines = []
        for line in locust.stdout:  # bounded: a 60 s run
            lines.append(line)
            if "All users spawned" in line:
                break
        locust.send_signal(signal.SIGTERM)
        out = "".join(lines) + locust.communicate(timeout=60)[0]
    finally:
        if locust.poll() is None:
            locust.kill()
            locust.wait()
        mock.send_signal(signal.SIGTERM)
        mock.wait(15)
    assert locust.returncode == 3, out[-3000:]
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert summary["result"] == "INTERRUPTED", summary["reason"]
    assert summary["reconciliation"]["ok"], summary["reconciliation"]


def test_a_worker_killed_mid_test_fails_the_run_and_is_named(tmp_path: Path) -> None:
    """A worker lost mid-test (SIGKILL: out of memory, a node gone) sends no last figures, so the
    master's report misses what it sent since its last periodic report. Before: with reconciliation
    off the run PASSED (exit 0, no warning, junit green) with a tenth of the requests missing, the
    loss said only in a log line; with it on, the reason blamed the collector."""

    def kill_one(_: subprocess.Popen[str], workers: list[Any]) -> None:
        workers[0].kill()
        workers[0].wait(10)

    code, out, worker_codes, report = play_distributed(tmp_path, SCENARIO + "reconciliation = false\n", "8s", kill_one)
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert code == 1 and summary["result"] == "FAILED", out[-3000:]
    assert "worker" in summary["reason"], summary["reason"]
    (lost,) = [v for v in summary["slo"] if not v["passed"]]
    assert "worker" in lost["name"] and lost["actual"] == 1, lost
    assert any("1 of 2 workers" in w for w in summary["warnings"]), summary["warnings"]
    assert "worker" in (report / "junit.xml").read_text()
    assert "worker" in (report / "summary.md").read_text()
    assert worker_codes[1] == 0, "the other worker stopped as it should"
