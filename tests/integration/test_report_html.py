"""report.html in a real browser: headless Chromium renders it offline, its script runs, the console stays quiet."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import subprocess_env
from tests.unit.test_report_summary import write_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        CHROMIUM is None, reason="headless Chromium is not installed: apt-get install chromium (.ci/run installs it)"
    ),
]


def chromium(tmp_path: Path, page: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    """Chromium headless on a local page; every host name fails to resolve, so any fetch would log an
    error. The virtual time budget lets the page settle first (pending fetches fail, timers fire):
    without it a fetch's failure could land after the DOM was dumped, on a busy machine."""
    assert CHROMIUM is not None
    args = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=3000",
        *mode,
        page.as_uri(),
    ]
    return subprocess.run(args, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)


def console(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """What the page wrote to its console (errors, failed loads, script exceptions), one line each."""
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def check_renders(tmp_path: Path, report: Path) -> str:
    """Dump the DOM after scripts ran, then a laptop-sized screenshot; returns the DOM."""
    dom = chromium(tmp_path, report, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console(dom) == []
    assert 'data-ready="1"' in dom.stdout  # the page's script ran to its end without an exception
    shot = tmp_path / "report.png"
    proc = chromium(tmp_path, report, f"--screenshot={shot}", "--window-size=1280,2000")
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    assert console(proc) == []
    assert png_size(shot) == (1280, 2000)
    # A blank page compresses to ~10 KB at this size; charts, tiles and text make it several times that.
    assert shot.stat().st_size > 60_000
    return dom.stdout


def test_console_check_catches_a_broken_page(tmp_path: Path) -> None:
    """The check the report passes can fail: a script error and a fetch are both caught."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><script>fetch("https://example.com/data.json");'
        "undefinedFunction();</script></body></html>",
        encoding="utf-8",
    )
    lines = console(chromium(tmp_path, page, "--dump-dom"))
    assert any("undefinedFunction" in line for line in lines), lines
    assert any("Failed to fetch" in line for line in lines), lines


def test_synthetic_report_renders_offline_without_console_errors(tmp_path: Path) -> None:
    write_run(tmp_path / "run", drop=0.05, saturated=True)
    dom = check_renders(tmp_path, tmp_path / "run" / "report.html")
    assert dom.count("<svg") == 8 and "The load generator was saturated" in dom


def test_smoke_run_writes_a_report_that_renders_and_renders_again(tmp_path: Path) -> None:
    report = tmp_path / "report"
    run = subprocess.run(
        [sys.executable, "-m", "simulator", "run", "smoke", "--run-time", "8s", "--report-dir", str(report)],
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    assert (report / "report.html").is_file(), run.stdout + run.stderr
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert summary["total"]["count"] > 0, run.stdout + run.stderr
    assert summary["funnel"]["stages"][0]["count"] > 0
    before = (report / "report.html").read_bytes()
    again = subprocess.run(
        [sys.executable, "-m", "simulator", "report", str(report)],
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(),
    )
    assert again.returncode == 0, again.stderr
    assert (report / "report.html").read_bytes() == before
    dom = check_renders(tmp_path, report / "report.html")
    assert "smoke" in dom
