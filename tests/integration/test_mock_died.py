"""A mock killed under ``loadsim run`` (issues #14 and #15): the report and the log say the mock
died, not only that its stats could not be read, and the run fails (exit 1), never passes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psutil
import pytest

from tests.conftest import subprocess_env

pytestmark = pytest.mark.integration


def _mock_of(proc: subprocess.Popen[str], *, timeout: float = 60.0) -> psutil.Process:
    """The embedded mock: the child of ``loadsim run`` whose command line runs ``simulator.mock``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                if "simulator.mock" in child.cmdline():
                    return child
            except psutil.Error:
                continue
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("loadsim run started no mock")


def test_a_mock_killed_mid_run_is_said_to_have_died_and_the_run_fails(tmp_path: Path) -> None:
    report = tmp_path / "report"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "run", "smoke", "--run-time", "12s", "--report-dir", str(report)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    try:
        mock = _mock_of(proc)
        time.sleep(4)
        os.kill(mock.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, out + err
    said = "the mock collector died during the run (exit -9, SIGKILL)"
    assert said in err, err
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert summary["result"] == "FAILED"
    differences = summary["reconciliation"]["differences"]
    assert any(said in d for d in differences), differences
    assert not any("could not read the mock's stats" in d for d in differences), differences
    assert said in (report / "summary.md").read_text() and said in (report / "report.html").read_text()


def test_a_mock_that_refuses_the_stats_read_is_said_to_be_gone() -> None:
    import socket

    from simulator.loadtest.reconcile import try_reconcile
    from simulator.report.stats import RunStats

    with socket.socket() as s:  # a loopback port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    rec = try_reconcile(RunStats(), url, None)
    assert not rec["ok"]
    assert rec["differences"] == [f"the mock at {url} is gone (connection refused): what it stored cannot be read"]
