"""Usage errors are caught before anything starts: no mock, no Locust, no report folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env

pytestmark = pytest.mark.integration


def _loadsim(tmp_path: Path, *args: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "simulator", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["run", "smoke", "--run-time", "abc"], "--run-time"),
        (["run", "smoke", "--run-time", "abc", "--dry-run"], "--run-time"),
        (["run", "smoke", "--run-time", "0s"], "--run-time"),
        (["run", "smoke", "--rate", "-3"], "--rate"),
        (["run", "smoke", "--rate-cap", "0"], "--rate-cap"),
        (["run", "smoke", "--", "--run-time", "abc"], "run-time"),
        (["run", "smoke", "--", "--no-such-flag"], "--no-such-flag"),
        (["run", "smoke", "--load-model", "open"], "rate"),
        (["replay", ".", "--run-time", "soon"], "--run-time"),
        # Before: inf (or 1e308) planned "inf sessions/s", then the scheduler spun without yielding:
        # no run time, no Ctrl-C, no report. A flag after -- is what the run uses: checked the same.
        (["run", "smoke", "--load-model", "open", "--rate", "inf"], "--rate"),
        (["run", "smoke", "--load-model", "open", "--rate", "1e308"], "--rate"),
        (["run", "smoke", "--load-model", "open", "--", "--rate", "inf"], "--rate"),
        (["run", "smoke", "--rate-cap", "inf"], "--rate-cap"),
        (["run", "smoke", "--", "-u", "0"], "--users"),
        (["run", "smoke", "--", "-t", "0s"], "--run-time"),
        # Before: the mock refused the stretched outage (3,840 s) mid-run, and loadsim said it played.
        (["run", "outage", "--run-time", "4h"], "outage_for"),
    ],
    ids=[
        "run-time",
        "run-time-dry-run",
        "zero-run-time",
        "rate",
        "rate-cap",
        "locust-run-time",
        "locust-flag",
        "open",
        "replay",
        "rate-inf",
        "rate-huge",
        "locust-rate-inf",
        "rate-cap-inf",
        "locust-users-0",
        "locust-run-time-0",
        "outage-stretched-too-long",
    ],
)
def test_a_usage_error_starts_nothing_and_leaves_nothing(tmp_path: Path, args: list[str], names: str) -> None:
    """Before: `loadsim run smoke --run-time abc` passed --dry-run and failed inside Locust, after
    the mock had started, leaving a report folder behind."""
    code, out = _loadsim(tmp_path, *args)
    assert code == 2, out
    assert names in out, out
    assert "mock collector at" not in out and "Starting Locust" not in out, out
    assert not (tmp_path / "reports").exists(), list((tmp_path / "reports").iterdir())


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["run", "smoke", "--seed", "-1"], "--seed must be from 0 to 2147483647, got -1"),
        (["run", "smoke", "--seed", "-1", "--dry-run"], "--seed must be from 0 to 2147483647, got -1"),
        (["run", "smoke", "--seed", "99999999999"], "--seed must be from 0 to 2147483647, got 99999999999"),
        (["run", "smoke", "--", "--seed", "-1"], "--seed: must be from 0 to 2147483647, got -1"),
        (["sample", "--seed", "-1", "--count", "1"], "--seed must be from 0 to 2147483647, got -1"),
        (["sample", "--seed", "99999999999"], "--seed must be from 0 to 2147483647, got 99999999999"),
    ],
    ids=["run", "dry-run", "too-big", "after-dashes", "sample", "sample-too-big"],
)
def test_a_seed_out_of_range_is_refused_like_generate_refuses_it(tmp_path: Path, args: list[str], says: str) -> None:
    """Before: numpy's ValueError and StopUser tracebacks, then FAILED exit 1 (sample: a traceback)."""
    code, out = _loadsim(tmp_path, *args)
    assert code == 2, out
    assert says in out, out
    assert "Traceback" not in out and "mock collector at" not in out, out
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["run", "smoke", "--think-scale", "-1"],
        ["run", "smoke", "--think-scale", "-1", "--dry-run"],
        ["run", "smoke", "--", "--think-scale", "-1"],
    ],
    ids=["run", "dry-run", "after-dashes"],
)
def test_a_negative_think_scale_is_refused_as_the_scenario_refuses_it(tmp_path: Path, args: list[str]) -> None:
    """Before: accepted (a scenario's think_time_scale = -1 is refused)."""
    code, out = _loadsim(tmp_path, *args)
    assert code == 2, out
    assert "--think-scale: expected a value of at least 0, got -1" in out, out
    assert "Traceback" not in out and "mock collector at" not in out, out
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["run", "smoke", "--host", "127.0.0.1:8080", "--run-time", "2s"],
        ["run", "smoke", "--host", "127.0.0.1:8080", "--dry-run"],
        ["run", "smoke", "--host", "localhost:8080/", "--run-time", "2s"],
    ],
    ids=["run", "dry-run", "localhost"],
)
def test_a_host_without_a_scheme_is_refused_before_anything_is_sent(tmp_path: Path, args: list[str]) -> None:
    """Before: accepted; every request failed with gaierror (the whole run sent to nowhere), exit 1."""
    code, out = _loadsim(tmp_path, *args)
    assert code == 2, out
    assert f"--host {args[3]!r}: expected a base URL with its scheme" in out, out
    assert "http://" in out and "Traceback" not in out and "Starting Locust" not in out, out
    assert not (tmp_path / "reports").exists()


def test_replay_refuses_a_host_without_a_scheme_too(tmp_path: Path) -> None:
    from simulator.dataset import generate

    generate("smoke", out=tmp_path / "data", users=2, days=1, seed=1, quiet=True)
    code, out = _loadsim(tmp_path, "replay", "data", "--host", "127.0.0.1:8080", "--run-time", "2s")
    assert code == 2, out
    assert "--host '127.0.0.1:8080': expected a base URL with its scheme" in out, out
    assert "Traceback" not in out and not (tmp_path / "reports").exists(), out


@pytest.mark.parametrize(
    ("args", "value"),
    [
        (["--app-id", ""], "''"),
        (["--app-id", "", "--dry-run"], "''"),
        (["--app-id", "   ", "--dry-run"], "'   '"),
        (["--app-id", "my app"], "'my app'"),
        (["--", "--app-id="], "''"),
    ],
    ids=["empty", "empty-dry-run", "blank", "a-space", "empty-after-dashes"],
)
def test_an_app_id_the_api_would_refuse_is_a_usage_error(tmp_path: Path, args: list[str], value: str) -> None:
    """The API routes a request to its account by ``id`` (required) and a uid is the app id + UUIDv4.
    Before: `--app-id ''` (an unset "$APP_ID") quietly ran as the scenario's app id, another account,
    PASSED exit 0; `--app-id '   '` or 'my app' was sent as every request's id (each a 400 from the
    mock, FAILED exit 1); the dry run passed them all."""
    code, out = _loadsim(tmp_path, "run", "smoke", "--run-time", "2s", *args)
    assert code == 2, out
    assert f"--app-id: expected an app id (1-64 letters, digits, '_', '.', '-'), got {value}" in out, out
    assert "Traceback" not in out and "mock collector at" not in out and "dry run" not in out, out
    assert not (tmp_path / "reports").exists(), list((tmp_path / "reports").iterdir())


@pytest.mark.parametrize("command", ["run", "generate"])
def test_a_scenario_app_id_the_api_would_refuse_is_refused_by_run_and_generate(tmp_path: Path, command: str) -> None:
    """Before: generate wrote a dataset of requests every one invalid, saying "(0 faulty)", exit 0;
    run sent them all and failed on a 100 % error rate."""
    (tmp_path / "app.toml").write_text('extends = "smoke"\n[app]\napp_id = ""\n')
    extra = ["--run-time", "2s"] if command == "run" else ["--out", "data", "--users", "3", "--days", "1"]
    code, out = _loadsim(tmp_path, command, "app.toml", *extra)
    assert code == 2, out
    assert "app.toml: app.app_id: expected an app id (1-64 letters, digits, '_', '.', '-'), got \"\"" in out, out
    assert "Traceback" not in out and "mock collector at" not in out, out
    assert not (tmp_path / "reports").exists() and not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("args", "value"),
    [
        (["--speed", "nan"], "nan"),
        (["--speed", "inf"], "inf"),
        (["--speed", "-1"], "-1"),
        (["--", "--speed", "nan"], "nan"),
        (["--", "--speed=-1"], "-1"),
    ],
    ids=["nan", "inf", "negative", "nan-after-dashes", "negative-after-dashes"],
)
def test_a_replay_speed_that_is_no_speed_is_refused_before_anything_starts(
    tmp_path: Path, args: list[str], value: str
) -> None:
    """Before: nan and inf were taken and played as fast as the target answers, as --speed 0 does,
    PASSED exit 0; after --, -1 got past the command line: the mock and Locust started, and Locust's
    refusal left a report folder without a report."""
    from simulator.dataset import generate

    generate("smoke", out=tmp_path / "data", users=2, days=1, seed=1, quiet=True)
    code, out = _loadsim(tmp_path, "replay", "data", "--run-time", "2s", *args)
    assert code == 2, out
    assert (
        "--speed: expected 0 (as fast as the target answers) or simulated seconds per real second, "
        f"such as 60 (an hour a minute), got {value}"
    ) in out, out
    assert "Traceback" not in out and "mock collector at" not in out and "Starting Locust" not in out, out
    assert not (tmp_path / "reports").exists(), list((tmp_path / "reports").iterdir())


@pytest.mark.parametrize(
    ("report_dir", "dry_run"),
    [("/proc/nope", False), ("/proc/nope", True), ("a-file/sub", False)],
    ids=["proc", "proc-dry-run", "under-a-file"],
)
def test_a_report_dir_that_cannot_be_made_is_refused_before_the_test(
    tmp_path: Path, report_dir: str, dry_run: bool
) -> None:
    """Before: a FileNotFoundError (or NotADirectoryError) traceback, exit 1; the dry run passed it."""
    (tmp_path / "a-file").write_text("not a folder\n")
    code, out = _loadsim(tmp_path, "run", "smoke", "--report-dir", report_dir, *(["--dry-run"] if dry_run else []))
    assert code == 2, out
    assert f"--report-dir {report_dir}: cannot write a report there" in out, out
    assert len(out.strip().splitlines()) == 1 and "Traceback" not in out, out
    assert "mock collector at" not in out and "dry run" not in out, out


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
@pytest.mark.parametrize("where", ["flag", "after-dashes"])
def test_processes_minus_1_counts_the_cpus_this_process_may_use(tmp_path: Path, where: str) -> None:
    """Before: ``--processes -1`` went to Locust, which starts one worker per ``os.cpu_count()``, the
    host's CPUs: under taskset, or in a container or pod limited to a few CPUs, that is many load
    generators time-sliced on one CPU, each saturated. One CPU here: one worker."""
    processes = ["--processes", "-1"] if where == "flag" else ["--", "--processes=-1"]
    one = {min(os.sched_getaffinity(0))}
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "run", "smoke", "--dry-run", *processes],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env=subprocess_env(),
        preexec_fn=lambda: os.sched_setaffinity(0, one),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    command = done.stdout + done.stderr
    # The would-run line, word by word: a report folder's timestamp (20261203-115002) holds "-1" too.
    words = command.split("would run:")[1].replace("=", " ").split()
    assert "--processes 1 " in command and "-1" not in words, command


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ("[population]\nrelease_decay = 0", "bad.toml: population.release_decay: expected a value in (0, 1]"),
        ('[journey.states.search]\ncategories = ["shoez"]', "bad.toml: journey.states.search.categories[0]"),
        (
            "[journey.states.checkout.next]\npurchase = 0\n[journey.states.login.next]\npurchase = 0\n"
            '[[slo.latency]]\nstep = "event:Purchase"\npercentile = 95\nmax_ms = 500',
            'bad.toml: slo.latency[0].step: "event:Purchase" is sent only by unreachable state purchase',
        ),
        (
            '[time]\nstart = "2019-01-01"',
            "bad.toml: time.start: the catalogue has no Android or iOS device on 2019-01-01 (its Android rows start ",
        ),
        (
            '[time]\nstart = "2025-01-01"\n'
            '[app]\nreleases = [{version = "2.0.0", build = 200, released = "2025-06-01"}]',
            "bad.toml: time.start: app.releases: the app's first release, 2.0.0, came out 2025-06-01, after 2025-01-01",
        ),
    ],
    ids=["population", "category", "slo-unreachable", "start-before-devices", "start-before-app"],
)
@pytest.mark.parametrize(
    "command",
    [
        ["run", "bad.toml", "--run-time", "3s", "--users", "1"],
        ["run", "bad.toml", "--dry-run"],
        ["sample", "--scenario", "bad.toml"],
        ["generate", "bad.toml", "--out", "data", "--users", "3", "--days", "1"],
        ["validate", "bad.toml"],
    ],
    ids=["run", "dry-run", "sample", "generate", "validate"],
)
def test_every_command_refuses_a_broken_scenario_as_validate_does(
    tmp_path: Path, command: list[str], change: str, said: str
) -> None:
    """Before: only validate checked the population and the categories: run --dry-run passed, sample died
    of a traceback, generate named no file, run started the mock and Locust and FAILED on no requests;
    an unknown category was silently all products."""
    (tmp_path / "bad.toml").write_text(f'extends = "ecommerce"\n{change}\n')
    code, out = _loadsim(tmp_path, *command)
    assert code == (1 if command[0] == "validate" else 2), out
    assert said in out, out
    assert "Traceback" not in out and "mock collector at" not in out and "dry run" not in out, out
    assert not (tmp_path / "reports").exists() and not (tmp_path / "data").exists()


def test_ui_refuses_a_start_day_with_no_devices_as_validate_does(tmp_path: Path) -> None:
    """Before: `loadsim ui` started the mock and the web UI, and each test started there died in Locust
    of NoDevicesOn: the scenario's population was first built inside Locust."""
    (tmp_path / "bad.toml").write_text('extends = "smoke"\n[time]\nstart = "2019-01-01"\n')
    with socket.socket() as busy:  # unchecked, the UI stops at its port in use: it never starts here
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code, out = _loadsim(tmp_path, "ui", "bad.toml", "--web-port", str(busy.getsockname()[1]))
    assert code == 2, out
    assert "bad.toml: time.start: the catalogue has no Android or iOS device on 2019-01-01" in out, out
    assert "Traceback" not in out and "mock collector at" not in out and "web UI at" not in out, out
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize(
    ("freeze", "run_time", "said"),
    [
        (
            'freeze_at = "10s"\nfreeze_for = "300s"',
            "4h",
            "--run-time 14400s stretches bad's freeze (target.mock.freeze_at 10s, target.mock.freeze_for 300s) x480 "
            "to 4800 s for 144000 s, past the mock's limits (freeze_for must be between 0 and 3600 s, got 144000.0): "
            "give a shorter --run-time",
        ),
        (
            'freeze_at = "20s"\nfreeze_for = "1s"',
            "400h",
            "--run-time 1440000s stretches bad's freeze (target.mock.freeze_at 20s, target.mock.freeze_for 1s) "
            "x48000 to 960000 s for 48000 s, past the mock's limits (freeze_at must be between 0 and 604800 s, "
            "got 960000.0)",
        ),
    ],
    ids=["freeze-for", "freeze-at"],
)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "run"])
def test_a_freeze_stretched_past_the_mocks_limits_is_refused_before_anything_starts(
    tmp_path: Path, freeze: str, run_time: str, said: str, dry_run: bool
) -> None:
    """Before: only the outage's stretch was checked; the dry run passed, and the real run's mock refused
    to start ("freeze_for must be between 0 and 3600 s, got 144000.0"), leaving a report folder behind."""
    (tmp_path / "bad.toml").write_text(f'extends = "smoke"\n[target.mock]\n{freeze}\n')
    code, out = _loadsim(tmp_path, "run", "bad.toml", "--run-time", run_time, *(["--dry-run"] if dry_run else []))
    assert code == 2, out
    assert f"loadsim: {said}" in out, out
    assert "mock collector" not in out and "dry run" not in out and "plan:" not in out, out
    assert not (tmp_path / "reports").exists()
