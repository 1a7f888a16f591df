"""`loadsim compare` knows noise: two runs of one configuration pass, a planted 2x latency fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env
from tests.integration.test_run import loadsim_run, start_mock, stop

pytestmark = pytest.mark.integration


def _run_against(tmp_path: Path, name: str, *mock_flags: str) -> Path:
    mock, url = start_mock(*mock_flags)
    where = tmp_path / name
    where.mkdir()
    try:
        code, out, _ = loadsim_run(where, "smoke", "--run-time", "8s", "--host", url)
    finally:
        stop(mock)
    assert code in (0, 1), out
    return where / "report"


def _compare(base: Path, new: Path) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "simulator", "compare", str(base), str(new)],
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(),
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_same_configuration_passes_and_a_planted_2x_latency_fails(tmp_path: Path) -> None:
    """Before: two runs of one smoke configuration failed with '16 regression(s) beyond 10%'."""
    base = _run_against(tmp_path, "base")
    again = _run_against(tmp_path, "again")
    code, out = _compare(base, again)
    assert code == 0, out
    slow_base = _run_against(tmp_path, "slow-base", "--latency", "3ms")
    slower = _run_against(tmp_path, "slower", "--latency", "6ms")
    code, out = _compare(slow_base, slower)
    assert code == 1, out
    assert "total" in out and "REGRESSION" in out
