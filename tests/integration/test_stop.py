"""Stopping from a CI script: `loadsim run ... &` then `kill -TERM $!` stops within seconds.

bash starts a script's background jobs with SIGINT ignored, and that is inherited through exec:
each run here is started exactly so, by a non-interactive ``bash -c '... &'``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import psutil
import pytest

from tests.conftest import subprocess_env

pytestmark = pytest.mark.integration


def _background(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], int]:
    """``bash -c 'loadsim ARGS & echo $!; wait'``: the pid of the background loadsim."""
    command = " ".join([sys.executable, "-m", "simulator", *args])
    shell = subprocess.Popen(
        ["bash", "-c", f"{command} > {tmp_path}/out.log 2>&1 & echo $!; wait $!; echo exit=$?"],
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
        start_new_session=True,
    )
    assert shell.stdout is not None
    return shell, int(shell.stdout.readline())


def _stop(
    shell: subprocess.Popen[str],
    pid: int,
    tmp_path: Path,
    *,
    within: float,
    sig: int = signal.SIGTERM,
    twice: bool = False,
) -> tuple[int, float]:
    # loadsim starts the mock and Locust in sessions of their own: note them now, so that a run
    # that does not stop leaves nothing behind when the test gives up on it.
    try:
        family = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    os.kill(pid, sig)
    t0 = time.monotonic()
    if twice:  # while the first stop writes the report
        time.sleep(0.05)
        os.kill(pid, sig)
    try:
        out, _ = shell.communicate(timeout=within + 30)
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
        for child in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
    took = time.monotonic() - t0
    code = int(out.strip().rsplit("exit=", 1)[-1])
    log = (tmp_path / "out.log").read_text()
    assert took < within, f"took {took:.1f} s to stop:\n{log}"
    return code, took


def _wait_for(path: Path, seconds: float = 40) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.mark.parametrize("processes", [1, 2], ids=["one-process", "two-processes"])
def test_sigterm_stops_a_background_run_and_marks_it_interrupted(tmp_path: Path, processes: int) -> None:
    """Before: 'stopping; writing the report...' and then the full run time."""
    report = tmp_path / "report"
    extra = ["--processes", "2"] if processes > 1 else []
    # smoke without its latency SLOs: a loaded CI host must not turn INTERRUPTED into FAILED. The
    # collector answers after 300 ms, so requests are in flight at every stop and reconciliation
    # must account for each one cut off.
    scenario = tmp_path / "calm.toml"
    scenario.write_text('extends = "smoke"\n[target.mock]\nlatency = "300ms"\n[slo]\nlatency = []\n')
    shell, pid = _background(tmp_path, "run", str(scenario), "--run-time", "120s", "--report-dir", str(report), *extra)
    _wait_for(report / "mock.sqlite3")
    time.sleep(8)  # Locust up and sending
    code, _ = _stop(shell, pid, tmp_path, within=30)
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert summary["result"] == "INTERRUPTED" and summary["timing"]["planned_s"] == 120, summary["reason"]
    assert summary["timing"]["duration_s"] < 60
    assert code == 3, (tmp_path / "out.log").read_text()
    assert "INTERRUPTED" in (report / "summary.md").read_text()
    assert "run completed its planned time" in (report / "junit.xml").read_text()
    assert "INTERRUPTED" in (report / "report.html").read_text()


_USER_SIGNALLED_MID_REQUEST = """
import os, signal, gevent
import simulator.loadtest.hooks  # installs loadsim's SIGINT handler, as in every Locust process
done = []
def user():  # a user's greenlet is running Python when the signal comes
    os.kill(os.getpid(), signal.SIGINT)
    done.append(sum(range(10000)))  # its request: the response read, the 200 counted
g = gevent.spawn(user)
try:
    g.join()
    gevent.sleep(2)
    print("not interrupted")
except KeyboardInterrupt:
    print("interrupted", done == [49995000], repr(g.exception))
"""


def test_a_sigint_stops_the_process_and_never_kills_a_user_mid_request() -> None:
    """Before: the KeyboardInterrupt rose in whichever greenlet ran when the SIGINT came. A user in
    the middle of a request died of it, its body counted neither as acknowledged nor as cut off, and
    reconciliation failed an interrupted run ("extra: 1 beyond 1 cut off at stop", once on CI)."""
    out = subprocess.run(
        [sys.executable, "-c", _USER_SIGNALLED_MID_REQUEST],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )
    assert out.stdout.strip() == "interrupted True None", out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_an_idle_web_ui_without_a_traceback(tmp_path: Path, sig: int) -> None:
    """Ctrl-C (or a TERM) to a web UI nobody started a test in: it stops, saying it has no test to
    report (not "writing the report of what was sent"), and prints no traceback (gevent's hub used to
    print the KeyboardInterrupt as a crash)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    shell, pid = _background(tmp_path, "ui", "smoke", "--web-port", str(port), "--report-dir", str(tmp_path / "r"))
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.3)
    time.sleep(1)
    code, _ = _stop(shell, pid, tmp_path, within=15, sig=sig)
    log = (tmp_path / "out.log").read_text()
    assert code in (0, 130, 143), log
    assert "no test running, nothing to report" in log and "writing the report" not in log, log
    assert "Traceback" not in log, log


def _a_web_ui_running_a_test(tmp_path: Path, processes: int, args: list[str]) -> tuple[subprocess.Popen[str], int, str]:
    """``loadsim ui`` in the background, a test started in it over /swarm and sending for 5 s: the
    shell, loadsim's pid and the UI's URL."""
    import socket
    import urllib.parse
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    scenario = tmp_path / "calm.toml"
    scenario.write_text('extends = "smoke"\n[slo]\nlatency = []\n')  # as above: a loaded host must not FAIL it
    extra = ["--", "--processes", "2"] if processes > 1 else []
    shell, pid = _background(tmp_path, "ui", str(scenario), "--web-port", str(port), *args, *extra)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 40
    started = False
    while not started and time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            # The form is refused until every worker is in (test_webui): no start sent before.
            with urllib.request.urlopen(url + "/worker-count", timeout=5) as r:
                ready = orjson.loads(r.read())["worker_count"] >= (processes if processes > 1 else 0)
            form = urllib.parse.urlencode({"user_count": 3, "spawn_rate": 3, "run_time": "120s"}).encode()
            if ready:
                with urllib.request.urlopen(url + "/swarm", data=form, timeout=5) as r:
                    started = bool(orjson.loads(r.read())["success"])  # refused until the workers connect
        time.sleep(0.3)
    assert started, (tmp_path / "out.log").read_text()
    time.sleep(5)  # sending for a while
    return shell, pid, url


def test_a_second_sigterm_to_a_web_ui_stops_it_at_once_as_an_interruption(tmp_path: Path) -> None:
    """Asked twice, loadsim kills Locust and says so: exit 3, as the README says. Before: exit 2."""
    shell, pid, _ = _a_web_ui_running_a_test(tmp_path, 1, ["--report-dir", str(tmp_path / "report")])
    code, _ = _stop(shell, pid, tmp_path, within=30, twice=True)
    log = (tmp_path / "out.log").read_text()
    assert "loadsim: INTERRUPTED: stopped at once (asked twice), no report" in log, log
    assert code == 3, log


@pytest.mark.parametrize(
    ("processes", "given"),
    [(1, True), (2, True), (1, False)],
    ids=["one-process", "two-processes", "default-report-folder"],
)
def test_sigterm_to_a_web_ui_with_a_test_running_writes_the_interrupted_report(
    tmp_path: Path, processes: int, given: bool
) -> None:
    """A UI left running a test, then TERM (a CI job's timeout, a container stop): it stops within
    seconds, writes the report of what was sent marked INTERRUPTED, and exits 3. Without --report-dir
    each test's report has a folder of its own (reports/<time>-<scenario>), and loadsim said
    "nothing was sent, no report" after it had written one."""
    report = tmp_path / "report"
    shell, pid, _ = _a_web_ui_running_a_test(tmp_path, processes, ["--report-dir", str(report)] if given else [])
    code, _ = _stop(shell, pid, tmp_path, within=30)
    log = (tmp_path / "out.log").read_text()
    if not given:  # the test's own folder, beside the session's (reports/<time>-ui-calm)
        (report,) = (p.parent for p in (tmp_path / "reports").glob("*-calm/summary.json"))
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert summary["result"] == "INTERRUPTED", summary["reason"]
    assert summary["total"]["count"] > 0 and summary["reconciliation"]["ok"], summary["reconciliation"]
    assert summary["workers"] == processes
    assert code == 3, log
    assert "nothing was sent" not in log, log
    assert "Traceback" not in log, log


def test_a_web_ui_test_stopped_before_its_run_time_is_interrupted_not_passed(tmp_path: Path) -> None:
    """Before: Stop pressed 5 s into a test of 120 s: PASSED, "interrupted": false, no "run completed its
    planned time" case in junit.xml, the tab's "interrupted" row "no": a partial run read as a pass."""
    import urllib.request

    report = tmp_path / "report"
    shell, pid, url = _a_web_ui_running_a_test(tmp_path, 1, ["--report-dir", str(report)])
    try:
        with urllib.request.urlopen(urllib.request.Request(url + "/stop", method="POST"), timeout=10) as r:
            assert r.status == 200
        _wait_for(report / "summary.json")
        summary = orjson.loads((report / "summary.json").read_bytes())
    finally:
        code, _ = _stop(shell, pid, tmp_path, within=30)
    assert summary["result"] == "INTERRUPTED" and summary["interrupted"], summary["reason"]
    assert "of 120 s planned" in summary["reason"] and summary["total"]["count"] > 0, summary["reason"]
    assert "run completed its planned time" in (report / "junit.xml").read_text()
    assert code == 3, (tmp_path / "out.log").read_text()  # a web UI exits with its last test's verdict


def _strays(marker: str) -> list[psutil.Process]:
    """The processes a run left behind: the mock and Locust name its report folder on their command lines."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if p.pid != os.getpid() and any(marker in arg for arg in p.info["cmdline"] or ()):
                found.append(p)
    return found


def _holds_signals(pid: int) -> bool:
    """Whether the process catches SIGTERM, as `loadsim` does from the first line of its entry point."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def _signal_while_starting(
    tmp_path: Path, args: list[str], *, after: float | str, sig: int = signal.SIGINT
) -> tuple[int, str, Path]:
    """``loadsim ARGS --report-dir DIR`` signalled ``after`` seconds from its first line, or just after the
    first line of output containing ``after``; the signal goes to its process group, as a terminal's
    Ctrl-C does. Returns its exit code, its output and the report folder."""
    report = tmp_path / "report"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", *args, "--report-dir", str(report)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        if isinstance(after, str):
            while not any(after in line for line in lines) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
        else:  # counted from loadsim's first line: on a loaded host Python's own start-up can take 0.1 s
            while not _holds_signals(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(after)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        code = proc.wait(60)
        reader.join(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return code, "".join(lines), report


def _assert_interrupted(code: int, out: str, report: Path) -> None:
    """What holds wherever the signal landed: INTERRUPTED, exit 3, with a report if a test began, in
    one line if none did; no traceback; the mock and Locust gone."""
    assert "Traceback" not in out, out[-3000:]
    assert "wrote no report" not in out, out[-3000:]
    summary = report / "summary.json"
    if summary.is_file():
        result = orjson.loads(summary.read_bytes())
        assert result["result"] == "INTERRUPTED", (result["reason"], out[-3000:])
    else:
        assert "loadsim: INTERRUPTED before the test started: nothing was sent, no report" in out, out[-3000:]
    assert code == 3, out[-3000:]
    deadline = time.monotonic() + 10
    while _strays(str(report)) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _strays(str(report))
    for p in left:
        with contextlib.suppress(psutil.Error):
            p.kill()
    assert not left, [" ".join(p.info["cmdline"]) for p in left]


#: From the start: in loadsim's own start-up (imports, the scenario, the mock), then in Locust's
#: (its imports, before the harness takes SIGINT in it), then with the users starting.
_STARTING = [0.1, 0.5, 1.0, "mock collector at", "Starting Locust"]


@pytest.mark.parametrize("after", _STARTING, ids=str)
def test_ctrl_c_while_a_run_starts_up_is_an_interruption(tmp_path: Path, after: float | str) -> None:
    """Before: a traceback, or "Locust ended but wrote no report", exit 2, as if the harness had failed."""
    scenario = tmp_path / "calm.toml"
    scenario.write_text('extends = "smoke"\n[slo]\nlatency = []\n')  # a loaded host must not turn it FAILED
    code, out, report = _signal_while_starting(tmp_path, ["run", str(scenario), "--run-time", "60s"], after=after)
    _assert_interrupted(code, out, report)


#: What a run's report holds that a CI job reads as its verdict.
_VERDICT_FILES = ("summary.json", "summary.md", "junit.xml", "report.html", "stats.json", "locust_stats.csv")


@pytest.mark.parametrize("after", ["mock collector at", "Starting Locust"], ids=str)
def test_a_run_stopped_as_it_starts_leaves_no_earlier_runs_verdict_in_its_folder(tmp_path: Path, after: str) -> None:
    """Before: stopped once its mock had started, a run in the folder of an earlier one left that run's
    summary.json and junit.xml (PASSED) beside its own mock.log: a CI junit publisher showed the old pass."""
    scenario = tmp_path / "calm.toml"
    scenario.write_text('extends = "smoke"\n[slo]\nlatency = []\n')
    first = subprocess.run(
        [sys.executable, "-m", "simulator", "run", str(scenario), "--run-time", "2s", "--report-dir", "report"],
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    first_report = tmp_path / "report"
    earlier = {n: (first_report / n).stat().st_mtime_ns for n in _VERDICT_FILES if (first_report / n).exists()}
    assert "summary.json" in earlier and "junit.xml" in earlier, earlier
    code, out, report = _signal_while_starting(tmp_path, ["run", str(scenario), "--run-time", "60s"], after=after)
    _assert_interrupted(code, out, report)
    # None of the earlier run's files is left (Locust, stopped as its test starts, may write an empty
    # locust_stats.csv of its own: a new file, not the earlier run's).
    left = [
        name for name in earlier if (report / name).exists() and (report / name).stat().st_mtime_ns == earlier[name]
    ]
    assert left == [], out[-3000:]
    if "before the test started" in out:  # nothing was sent: no verdict of this run either
        assert not (report / "summary.json").exists() and not (report / "junit.xml").exists(), out[-3000:]


@pytest.mark.parametrize("after", _STARTING, ids=str)
def test_ctrl_c_while_a_replay_starts_up_is_an_interruption(tmp_path: Path, after: float | str) -> None:
    from simulator.dataset import generate

    data = tmp_path / "dataset"
    generate("smoke", out=data, users=6, days=1, seed=5)
    code, out, report = _signal_while_starting(tmp_path, ["replay", str(data), "--speed", "1"], after=after)
    _assert_interrupted(code, out, report)


@pytest.mark.parametrize("after", [0.5, "mock collector at"], ids=str)
def test_sigterm_while_a_run_starts_up_is_an_interruption(tmp_path: Path, after: float | str) -> None:
    """A CI job cancelled as its run starts. Before: loadsim died of it there, leaving the mock running."""
    scenario = tmp_path / "calm.toml"
    scenario.write_text('extends = "smoke"\n[slo]\nlatency = []\n')
    code, out, report = _signal_while_starting(
        tmp_path, ["run", str(scenario), "--run-time", "60s"], after=after, sig=signal.SIGTERM
    )
    _assert_interrupted(code, out, report)


def test_ctrl_c_once_the_users_spawned_before_any_answer_is_an_interruption(tmp_path: Path) -> None:
    """The users are up and their first requests in flight (the collector takes 3 s to answer): an
    interruption, with the report of what was cut off, not a failure."""
    scenario = tmp_path / "slow.toml"
    scenario.write_text('extends = "smoke"\n[target.mock]\nlatency = "3s"\n[slo]\nlatency = []\n')
    code, out, report = _signal_while_starting(
        tmp_path, ["run", str(scenario), "--run-time", "60s"], after="All users spawned"
    )
    assert (report / "summary.json").is_file(), out[-3000:]
    _assert_interrupted(code, out, report)


#: ``python -m simulator ARGS`` that sends itself SIG the moment it first imports MODULE: a Ctrl-C or a
#: CI cancel that lands inside one of loadsim's imports, every time rather than once in fifty runs.
_SIGNAL_AT_IMPORT = """
import os, runpy, sys
module, sig = sys.argv[1], int(sys.argv[2])
class SignalAt:
    def find_spec(self, name, path=None, target=None):
        if name == module:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), sig)
sys.meta_path.insert(0, SignalAt())
sys.argv = ["loadsim", *sys.argv[3:]]
runpy.run_module("simulator", run_name="__main__", alter_sys=True)
"""


def _signal_at_import(
    tmp_path: Path, module: str, sig: int, *args: str, sigint_ignored: bool = False
) -> subprocess.CompletedProcess[str]:
    """``loadsim ARGS`` sent ``sig`` when it first imports ``module``; ``sigint_ignored``: started with
    SIGINT ignored, as bash starts a script's background job (and exec keeps)."""
    script = tmp_path / "signal_at_import.py"
    script.write_text(_SIGNAL_AT_IMPORT)
    return subprocess.run(
        [sys.executable, "-X", "faulthandler", str(script), module, str(int(sig)), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(),
        cwd=tmp_path,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None,
    )


@pytest.mark.parametrize(
    ("command", "module", "sig"),
    [
        ("run", "datetime", signal.SIGINT),  # first imported by orjson's module init
        ("run", "datetime", signal.SIGTERM),
        # Where Locust's import patches threading: replay and ui import it in their handlers, after
        # the hold ended. Before: "RuntimeError: cannot release un-acquired lock", five tracebacks.
        ("replay", "gevent.threading", signal.SIGINT),
        ("ui", "gevent.threading", signal.SIGINT),
        # Held there too now, and answered once the imports are done:
        ("run", "gevent.threading", signal.SIGINT),
        ("run", "simulator.loadtest.hooks", signal.SIGINT),  # the glue that takes SIGINT in a Locust process
    ],
    ids=lambda v: v if isinstance(v, str) else signal.Signals(v).name,
)
def test_a_stop_inside_loadsims_imports_is_an_interruption(tmp_path: Path, command: str, module: str, sig: int) -> None:
    """Before: a segmentation fault for Ctrl-C in orjson's init, a death with no word for SIGTERM, a
    traceback inside gevent's patching (and, landing there by chance in a run, the stop lost)."""
    scenario = tmp_path / "calm.toml"
    scenario.write_text('extends = "smoke"\n[slo]\nlatency = []\n')
    report = tmp_path / "report"
    args = {"run": ["run", str(scenario), "--run-time", "60s"], "ui": ["ui", str(scenario), "--web-port", "0"]}
    if command == "replay":
        from simulator.dataset import generate

        generate("smoke", out=tmp_path / "dataset", users=6, days=1, seed=5)
        args["replay"] = ["replay", str(tmp_path / "dataset"), "--speed", "1"]
    done = _signal_at_import(tmp_path, module, sig, *args[command], "--report-dir", str(report))
    out = done.stdout + done.stderr
    assert "Fatal Python error" not in out, out[-3000:]
    assert not report.exists(), out[-3000:]
    _assert_interrupted(done.returncode, out, report)


def test_a_background_run_stopped_while_it_starts_is_interrupted(tmp_path: Path) -> None:
    """`loadsim run ... &` in a script starts with SIGINT ignored, and `kill -INT $!` still stops the
    run (README). Before: a SIGINT that came while loadsim imported was held, then dropped as
    ignored, and the run went on for its full run time, PASSED."""
    scenario = tmp_path / "calm.toml"
    scenario.write_text('extends = "smoke"\n[slo]\nlatency = []\n')
    report = tmp_path / "report"
    args = ["run", str(scenario), "--run-time", "30s", "--report-dir", str(report)]
    done = _signal_at_import(tmp_path, "datetime", signal.SIGINT, *args, sigint_ignored=True)
    out = done.stdout + done.stderr
    assert not report.exists(), out[-3000:]
    _assert_interrupted(done.returncode, out, report)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_stop_inside_the_imports_of_generate_says_nothing_was_written(tmp_path: Path, sig: int, code: int) -> None:
    """A command that runs no test stops as a shell expects, 128 + the signal, with no traceback and no
    dataset, its last line saying so as a stop later does (README). Before: a segmentation fault for
    SIGINT (orjson's init), a silent SIGTERM death; then 143 with no word."""
    out_dir = tmp_path / "dataset"
    done = _signal_at_import(
        tmp_path, "datetime", sig, "generate", "smoke", "--users", "3", "--days", "1", "--out", str(out_dir)
    )
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Fatal Python error" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1:] == ["loadsim: interrupted before it began: nothing was written"]
    assert not out_dir.exists()
