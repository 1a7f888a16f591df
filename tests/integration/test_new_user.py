"""What a new user sees on a plain ``loadsim run``: no false warnings, every harness option by name.

Real runs on loopback, each bounded by its run time.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from tests.conftest import loadsim

pytestmark = pytest.mark.integration


def test_run_time_is_honoured_without_a_warning_that_it_is_ignored(tmp_path: Path) -> None:
    """ScenarioShape reads --run-time and --users; Locust must not say it ignores them. A harness
    option given without ``--`` (--app-id) reaches the bodies."""
    done = loadsim(
        tmp_path, "run", "smoke", "--run-time", "4s", "--users", "2", "--app-id", "acme-shop", "--report-dir", "r"
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "will be ignored" not in out and "have no impact" not in out, out
    summary = orjson.loads((tmp_path / "r" / "summary.json").read_bytes())
    assert 3 <= summary["timing"]["duration_s"] < 15, summary["timing"]
    with sqlite3.connect(tmp_path / "r" / "mock.sqlite3") as db:
        ids = {orjson.loads(body)["id"] for (body,) in db.execute("SELECT body FROM accepted")}
    assert ids == {"acme-shop"}


def test_a_replay_report_is_titled_as_a_replay_of_its_dataset(tmp_path: Path) -> None:
    from simulator.dataset import generate

    generate("smoke", out=tmp_path / "shop", users=5, days=1, seed=2, quiet=True)
    done = loadsim(tmp_path, "replay", "shop", "--users", "2", "--run-time", "60s", "--report-dir", "r")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = orjson.loads((tmp_path / "r" / "summary.json").read_bytes())
    assert summary["scenario"] == "replay of shop (smoke)", summary["scenario"]
    assert "<title>loadsim: replay of shop (smoke)" in (tmp_path / "r" / "report.html").read_text()
    assert (tmp_path / "r" / "summary.md").read_text().startswith("### loadsim: replay of shop (smoke)")
