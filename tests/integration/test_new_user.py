"""What a new user sees on a plain ``loadsim run``: no false warnings, every harness option by name.

Real runs on loopback, each bounded by its run time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import subprocess_env

pytestmark = pytest.mark.integration

LOADSIM = [sys.executable, "-m", "simulator"]


def loadsim(tmp_path: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LOADSIM, *args], capture_output=True, text=True, timeout=timeout, env=subprocess_env(), cwd=tmp_path
    )


def test_run_time_is_honoured_without_a_warning_that_it_is_ignored(tmp_path: Path) -> None:
    """ScenarioShape reads --run-time and --users; Locust must not say it ignores them."""
    done = loadsim(tmp_path, "run", "smoke", "--run-time", "4s", "--users", "2", "--report-dir", "r")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "will be ignored" not in out and "have no impact" not in out, out
    summary = orjson.loads((tmp_path / "r" / "summary.json").read_bytes())
    assert 3 <= summary["timing"]["duration_s"] < 15, summary["timing"]
