"""A run passes only when the target really kept up: stalls, held requests and refused ports fail.

Each test drives the real mock (``loadsim mock``) and real Locust on loopback, bounded in time.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from tests.conftest import start_loadsim, subprocess_env
from tests.integration.faults import lock_store, small_disk
from tests.integration.test_run import loadsim_run, start_mock, stop

pytestmark = pytest.mark.integration


def _last_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith("loadsim: ")]
    return lines[-1] if lines else ""


def test_a_frozen_target_fails_the_closed_model(tmp_path: Path) -> None:
    """The mock freezes after 3 s for longer than the run: users wait on it and send nothing more.
    Before: PASSED, exit 0, 'No errors'."""
    mock, url = start_mock("--freeze-at", "3s", "--freeze-for", "300s")
    try:
        code, out, summary = loadsim_run(tmp_path, "smoke", "--run-time", "12s", "--host", url)
    finally:
        stop(mock)
    assert code == 1, out
    unfinished = summary["unfinished"]
    assert unfinished["count"] >= 1, unfinished
    assert max(e["max_elapsed_s"] for e in unfinished["endpoints"].values()) >= 5, unfinished
    failed = [v["name"] for v in summary["slo"] if not v["passed"]]
    assert any("unanswered" in name for name in failed), failed
    assert _last_line(out).startswith("loadsim: FAILED: "), out
    assert "unanswered" in _last_line(out)
    # the stall is on the timeline: seconds with requests in flight and none finished
    assert summary["stall"]["seconds"] >= 4, summary["stall"]


def test_a_frozen_target_fails_the_open_model(tmp_path: Path) -> None:
    """Before: PASSED with 52 of 58 arrivals dropped."""
    mock, url = start_mock("--freeze-at", "3s", "--freeze-for", "300s")
    try:
        code, out, summary = loadsim_run(
            tmp_path, "smoke", "--run-time", "12s", "--host", url, "--load-model", "open", "--rate", "3"
        )
    finally:
        stop(mock)
    assert code == 1, out
    arrivals = summary["arrivals"]
    assert arrivals["planned"] == pytest.approx(36, abs=4), arrivals
    assert arrivals["dropped"] > arrivals["scheduled"] / 3, arrivals
    failed = [v["name"] for v in summary["slo"] if not v["passed"]]
    assert any("dropped arrivals" in name for name in failed), failed
    assert any("achieved rate" in name for name in failed), failed


def test_a_held_share_of_requests_fails_the_run(tmp_path: Path) -> None:
    """30% of requests held (never answered) from 3 s on, set through the admin API mid-run."""
    mock, url = start_mock()

    def hold() -> None:
        time.sleep(3)
        put = urllib.request.Request(
            f"{url}/_admin/faults",
            method="PUT",
            data=orjson.dumps({"default": {"hold_rate": 0.3}}),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(put, timeout=5).close()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    try:
        code, out, summary = loadsim_run(tmp_path, "smoke", "--run-time", "12s", "--host", url)
    finally:
        holder.join(10)
        stop(mock)
    assert code == 1, out
    assert summary["unfinished"]["count"] >= 1, summary["unfinished"]
    assert "unanswered" in _last_line(out), out


def test_a_refused_port_fails_with_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, summary = loadsim_run(tmp_path, "smoke", "--run-time", "5s", "--host", f"http://127.0.0.1:{port}")
    assert code == 1, out
    line = _last_line(out)
    assert line.startswith("loadsim: FAILED: ") and "error rate" in line, out
    assert summary["result"] == "FAILED"


def test_a_locked_store_never_reads_as_reconciled_while_acknowledged_rows_are_missing(tmp_path: Path) -> None:
    """Another process write-locks the mock's SQLite file mid-run for 7 s. Before: the mock kept
    answering 200, stored nothing, and the run said "Reconciliation: OK". Now the run never says
    OK, or exits 0, while a body answered 200 is not in the store's committed rows."""
    store = tmp_path / "mock.sqlite3"
    mock, url = start_mock_with_store(store)
    result: dict[str, object] = {}

    def lock() -> None:
        time.sleep(3)
        locker = lock_store(store, 7)
        result["locked"] = "locked"
        result["code"] = locker.wait(timeout=30)

    locker = threading.Thread(target=lock, daemon=True)
    locker.start()
    try:
        code, out, summary = loadsim_run(tmp_path, "smoke", "--run-time", "14s", "--host", url)
    finally:
        locker.join(30)
        stop(mock)
    assert result.get("locked") == "locked", result
    rec = summary["reconciliation"]
    with sqlite3.connect(store) as db:
        rows = dict(db.execute("SELECT endpoint, count(*) FROM accepted GROUP BY endpoint").fetchall())
    lost = {
        ep: row["acknowledged"] - rows.get(ep, 0)
        for ep, row in rec["endpoints"].items()
        if row["acknowledged"] > rows.get(ep, 0)
    }
    if rec["ok"]:
        assert not lost, f"reconciliation said OK with acknowledged rows missing from the store: {lost}"
    else:
        assert any("lost" in d for d in rec["differences"]), rec
    assert code == 1, out  # 503s while locked (the hardened mock) or a loss (a mock that acknowledged anyway)
    assert "Reconciliation: OK" not in out or not lost


def start_mock_with_store(store: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator.mock", "--port", "0", "--store", str(store)],
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().rsplit(" ", 1)[-1].strip()


def test_a_shortened_flash_sale_runs_and_reaches_its_flash(tmp_path: Path) -> None:
    """Before: exit 2 'the open model needs a target rate', after the mock had started, and an
    empty report folder; and any --run-time flattened the stages, so no flash."""
    code, out, summary = loadsim_run(tmp_path, "flash-sale", "--run-time", "20s")
    assert code in (0, 1), out  # it ran: a verdict, not a usage error
    assert summary["timing"]["planned_s"] == 20
    arrivals = summary["arrivals"]
    # 3 s at 5/s, 8 s at 50/s, 6 s at 5/s: a flat 5/s would plan a hundred
    assert arrivals["planned"] == pytest.approx(445, rel=0.1), arrivals
    assert arrivals["scheduled"] > 300, arrivals


def test_the_generator_cpu_is_sampled_from_the_first_second(tmp_path: Path) -> None:
    """Before: Locust's CPU figure comes every 10 s and psutil's first reading is 0.0, so a short
    run (a replay at 97% CPU among them) reported max_cpu_percent 0.0."""
    code, out, summary = loadsim_run(tmp_path, "smoke", "--run-time", "6s", "--", "--think-scale", "0")
    assert code in (0, 1), out
    generator = summary["generator"]
    assert generator["samples"] >= 3, generator  # one a second, from the first
    assert generator["max_cpu_percent"] > 5, generator  # sending back to back is never idle
    assert generator["threshold_percent"] == 90


def test_expected_rejections_are_explained_by_fault_kind(tmp_path: Path) -> None:
    """Before: bad-clients counted 99 expected 400s while "Errors by kind" said "No errors", with
    no breakdown, and the mock's warnings showed as a raw dict."""
    code, out, summary = loadsim_run(tmp_path, "bad-clients", "--run-time", "8s")
    assert code in (0, 1), out
    rejected = summary["expected_rejections"]
    assert rejected and sum(r["count"] for r in rejected) == summary["total"]["expected_rejections"]
    assert all(r["message"].startswith("400 ") and len(r["message"]) > 5 for r in rejected), rejected
    assert len({r["fault"] for r in rejected}) >= 2, rejected
    md = (tmp_path / "report" / "summary.md").read_text()
    assert "expected 400 (faulty SDK)" in md
    page = (tmp_path / "report" / "report.html").read_text()
    assert "Expected rejections by fault kind" in page
    assert "{'unknown_session'" not in page and "{&#x27;unknown_session" not in page


def test_replay_runs_and_its_funnel_counts_ordered_sessions(tmp_path: Path) -> None:
    """Before: replay's funnel counted requests under the labels run uses for sessions."""
    data = tmp_path / "data"
    gen = subprocess.run(
        [sys.executable, "-m", "simulator", "generate", "smoke", "--out", str(data), "--users", "60", "--days", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(),
    )
    assert gen.returncode == 0, gen.stderr
    report = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "simulator", "replay", str(data), "--report-dir", str(report)],
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    funnel = orjson.loads((report / "summary.json").read_bytes())["funnel"]
    assert funnel["counts"] == "sessions", funnel
    assert all(st["from_previous"] is None or st["from_previous"] <= 1 for st in funnel["stages"]), funnel
    assert "identified" not in [st["stage"] for st in funnel["stages"]] and "login" in funnel


def test_a_report_that_cannot_be_written_still_says_its_verdict(tmp_path: Path) -> None:
    """Before: a disk that filled up by the end lost the run's verdict with its report: 'Locust ended
    but wrote no report', exit 2, and nothing in the log said whether the target had kept up."""
    mock, url = start_mock()
    try:
        with small_disk(tmp_path, "1m") as disk:
            run = start_loadsim(
                tmp_path, "run", "smoke", "--run-time", "5s", "--host", url, "--report-dir", f"{disk}/r"
            )
            deadline = time.monotonic() + 60
            while not (disk / "r" / "locust_stats.csv").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            with contextlib.suppress(OSError), (disk / "fill").open("wb") as fill:  # the disk fills up mid-run
                while True:
                    fill.write(b"\0" * 4096)
                    fill.flush()
            stdout, _ = run.communicate(timeout=120)
    finally:
        stop(mock)
    done = subprocess.CompletedProcess(run.args, run.returncode, stdout, "")
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-3000:]  # no report: a harness error, whatever the verdict
    said = [line for line in out.splitlines() if "could not write the report" in line]
    assert said and "No space left on device" in said[-1], out[-3000:]
    assert "its verdict was PASSED: every SLO held" in said[-1], said
    assert "| name | requests | failures |" in out, out[-3000:]  # summary.md, into the log instead


def test_a_locust_html_that_cannot_be_written_keeps_the_report_and_its_verdict(tmp_path: Path) -> None:
    """Before: a plain ``locust --html F`` had Locust write F before the harness's report, and a failure
    there (a full disk; here, a file where F's folder should be) ended the process with a traceback:
    no summary.json, no junit.xml, no verdict. Now the harness writes F after its own files, with
    Locust's placeholders filled in, and says what it could not write."""
    mock, url = start_mock()
    report = tmp_path / "report"
    (tmp_path / "taken").write_text("a file, not a folder")
    cmd = [
        *(sys.executable, "-m", "locust", "-f", str(Path("simulator/locustfiles/tracking.py").resolve())),
        *("--headless", "--host", url, "--scenario", "smoke", "-u", "2", "-t", "3s", "--report-dir", str(report)),
    ]
    try:
        broken = subprocess.run(
            [*cmd, "--html", str(tmp_path / "taken" / "page.html")],
            cwd=tmp_path, capture_output=True, text=True, timeout=90, env=subprocess_env(),
        )  # fmt: skip
        report_ok = orjson.loads((report / "summary.json").read_bytes()) if (report / "summary.json").exists() else None
        fine = subprocess.run(
            [*cmd, "--html", str(tmp_path / "pages" / "page-{u}.html")],
            cwd=tmp_path, capture_output=True, text=True, timeout=90, env=subprocess_env(),
        )  # fmt: skip
    finally:
        stop(mock)
    assert report_ok is not None and report_ok["result"] == "PASSED", broken.stderr[-3000:]
    assert (report / "junit.xml").exists()
    said = [line for line in broken.stderr.splitlines() if "could not write Locust's page" in line]
    assert said and str(tmp_path / "taken" / "page.html") in said[-1], broken.stderr[-3000:]
    assert broken.returncode == 2, broken.stderr[-3000:]  # an artifact asked for is missing
    assert "Traceback" not in broken.stderr, broken.stderr[-3000:]
    assert fine.returncode == 0, fine.stderr[-3000:]
    page = tmp_path / "pages" / "page-2.html"
    assert page.exists() and "locust" in page.read_text().lower()
    assert not (report / "locust.html").exists()  # asked for elsewhere: not written twice


def test_an_html_page_loadsim_run_could_not_write_is_its_last_line(tmp_path: Path) -> None:
    """Before: the run exited 2 for the missing page, but its last line, what CI shows, said
    'PASSED: every SLO held'; the reason was an error line in the middle of the log."""
    (tmp_path / "taken").write_text("a file, not a folder")
    code, out, summary = loadsim_run(tmp_path, "smoke", "--run-time", "3s", "--", "--html", "taken/page.html")
    assert code == 2, out[-3000:]
    assert summary["result"] == "PASSED", out[-3000:]  # the verdict is kept...
    last = [line for line in out.splitlines() if line.startswith("loadsim: ")][-1]  # loadsim's own, on stdout
    assert last.startswith("loadsim: HARNESS ERROR (exit 2): --html taken/page.html was not written"), last
    assert summary["harness_problems"] == [last.removeprefix("loadsim: HARNESS ERROR (exit 2): ")]


def test_a_run_that_wrote_no_report_is_not_judged_by_an_earlier_runs(tmp_path: Path) -> None:
    """A --report-dir given again holds the last run's summary.json. Before: a run whose Locust
    ended without a report (here it cannot make its --csv folder) read the old one and crashed on
    its missing summary.md, exit 1 (or printed the old verdict)."""
    report = tmp_path / "report"
    report.mkdir()
    (report / "summary.json").write_text('{"result": "PASSED", "reason": "an earlier run"}')
    (tmp_path / "taken").write_text("a file, not a folder")
    code, out, _ = loadsim_run(tmp_path, "smoke", "--run-time", "3s", "--", "--csv", "taken/x")
    assert code == 2, out[-3000:]
    assert f"loadsim: Locust ended but wrote no report in {report}" in out, out[-3000:]
    assert "an earlier run" not in out and "summary.md" not in out, out[-3000:]
