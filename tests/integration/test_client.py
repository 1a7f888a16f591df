"""Client behaviour under failure: retries with backoff, Retry-After, offline queues, an outage's storm."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_run import loadsim_run

pytestmark = pytest.mark.integration


def scenario(tmp_path: Path, text: str) -> str:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return str(path)


def test_retries_recover_every_request_from_transient_503s(tmp_path: Path) -> None:
    s = scenario(
        tmp_path,
        """extends = "smoke"
[client.retry]
max_attempts = 6
base = "20ms"
max_backoff = "100ms"
[target.mock]
error_rate = "0.2:503"
retry_after = "0"
""",
    )
    code, out, summary = loadsim_run(tmp_path, s, "--run-time", "8s")
    assert code == 0, out  # smoke's SLOs: no failures, reconciliation
    assert summary["retries"]["total"] > 0 and summary["retries"]["recovered"] > 0
    assert summary["total"]["failures"] == 0 and summary["reconciliation"]["ok"]
    # Locust's own table shows the attempts: first tries under the step, retries apart
    assert "(retry)" in (tmp_path / "report" / "locust_stats.csv").read_text()


def test_without_retries_the_same_errors_are_failures(tmp_path: Path) -> None:
    s = scenario(tmp_path, 'extends = "smoke"\n[target.mock]\nerror_rate = "0.2:503"\n')
    code, out, summary = loadsim_run(tmp_path, s, "--run-time", "6s")
    assert code == 1, out
    assert summary["total"]["failures"] > 0 and summary["retries"]["total"] == 0
    assert any(e["kind"] == "status 503" for e in summary["errors"])
    # a failed request is just a failure: the session goes on, no user code crashes
    exceptions = (tmp_path / "report" / "locust_exceptions.csv").read_text().strip().splitlines()
    assert len(exceptions) == 1, exceptions[:3]  # the header only


def test_outage_storm_drains_with_nothing_lost_or_duplicated(tmp_path: Path) -> None:
    s = scenario(
        tmp_path,
        """extends = "outage"
[load]
users = 40
rate = 5
run_time = "22s"
[client.offline]
share = 0.0
requeue_after = "1s"
[target.mock]
outage_at = "4s"
outage_for = "5s"
outage_status = 503
""",
    )
    code, out, summary = loadsim_run(tmp_path, s, timeout=180)
    assert code in (0, 1), out
    queue = summary["offline_queue"]
    assert queue["requeued"] > 0 and summary["retries"]["total"] > 0, summary["retries"]
    assert queue["max_depth"] > 0 and queue["unsent"] == 0, queue
    assert summary["reconciliation"]["ok"], summary["reconciliation"]
    assert summary["total"]["failures"] == 0  # every request got through once the mock was back
    assert_the_funnel_counts_every_session_started(summary)


def assert_the_funnel_counts_every_session_started(summary: dict[str, Any]) -> None:
    """Each session's one externalIds answered 200 is a session of the funnel, however late it got
    through (retried, requeued, flushed from the offline queue)."""
    started = summary["endpoints"]["externalIds"]
    answered = started["count"] - started["failures"] - started["expected_rejections"]
    stages = {st["stage"]: st["count"] for st in summary["funnel"]["stages"]}
    assert stages["sessions"] == answered > 0, (stages, started)


def test_sessions_sent_from_the_offline_queue_count_in_the_funnel(tmp_path: Path) -> None:
    """Before (`loadsim run outage`): 87 externalIds answered 200, a funnel of 80 sessions: the
    stages of a session played offline, or of a request requeued, were never counted."""
    s = scenario(
        tmp_path,
        """extends = "smoke"
[load]
users = 20
run_time = "8s"
[client.offline]
share = 0.4
duration = "1s"
""",
    )
    code, out, summary = loadsim_run(tmp_path, s, timeout=120)
    assert code in (0, 1), out
    assert summary["offline_queue"]["offline_sessions"] > 0, summary["offline_queue"]
    assert_the_funnel_counts_every_session_started(summary)


def test_a_shortened_run_scales_its_outage_with_it(tmp_path: Path) -> None:
    """Before: --run-time shortened the run but not the outage, which the runner played at its
    original offset: here at 36 s of a 10 s run, so the mock never answered a 503 while the run
    passed as an outage scenario. Now the window scales with the run (1/6: 6 s, for 2 s)."""
    from simulator.report.summary import load_run

    s = scenario(
        tmp_path,
        """extends = "outage"
[load]
users = 40
rate = 5
run_time = "60s"
[client.offline]
share = 0.0
requeue_after = "1s"
[target.mock]
outage_at = "36s"
outage_for = "12s"
[slo]
latency = []
""",
    )
    code, out, summary = loadsim_run(tmp_path, s, "--run-time", "10s", timeout=120)
    assert code in (0, 1), out
    assert "the mock answers 503 for 2 s" in out, out[-2000:]
    assert summary["retries"]["after"].get("status 503", 0) > 0, summary["retries"]
    # The 503s fall in the scaled window, not over the whole run: none in the first second, and
    # the retries (backoff at most 2 s) are over before the run ends.
    _, stats = load_run(tmp_path / "report")
    started = summary["timing"]["started"]
    retried = sorted(at - started for at, piece in stats.timeline.items() if piece.get("retries"))
    assert retried and retried[0] >= 1.0 - stats.timeline_step and retried[-1] < 10.0, retried
    assert summary["reconciliation"]["ok"], summary["reconciliation"]
    # The window counts from the load's first request: the store's one long silence (every request
    # answered 503) opens 6 s after its first row. Before, it counted from Locust's launch and
    # opened a Locust start-up earlier (4.6 s here).
    with sqlite3.connect(tmp_path / "report" / "mock.sqlite3") as db:
        times = [t for (t,) in db.execute("SELECT received_at FROM accepted ORDER BY received_at")]
    gap, opened = max((b - a, a) for a, b in itertools.pairwise(times))
    assert gap > 1.5, gap
    assert 5.5 <= opened - times[0] <= 8.0, opened - times[0]


def test_a_refusing_collector_is_retried_as_connection_errors_and_reconciles(tmp_path: Path) -> None:
    """outage_status = "refuse": the mock is down (connects refused) for 4 s; the SDKs' retries
    and queues carry every request over it, each stored once."""
    s = scenario(
        tmp_path,
        """extends = "outage"
[load]
users = 40
rate = 5
run_time = "20s"               # 11 s after the outage: the queued requests' devices come back
[client.offline]
share = 0.0
requeue_after = "1s"
[target.mock]
outage_at = "5s"
outage_for = "4s"
outage_status = "refuse"
[slo]
latency = []                   # retries over the outage take seconds; exit 0 judges delivery alone
""",
    )
    code, out, summary = loadsim_run(tmp_path, s, timeout=180)
    assert code == 0, out
    assert "the mock refuses connections for 4 s" in out, out[-2000:]
    assert summary["retries"]["total"] > 0, summary["retries"]
    assert summary["reconciliation"]["ok"], summary["reconciliation"]
    assert summary["total"]["failures"] == 0 and summary["offline_queue"]["unsent"] == 0
    # The report says why the SDKs retried; Locust's table counts every attempt the same way.
    assert "connection (ConnectionRefusedError)" in summary["retries"]["after"], summary["retries"]
    failures = (tmp_path / "report" / "locust_failures.csv").read_text()
    assert "(retry)" in failures and "ConnectionRefusedError" in failures, failures[:2000]
    mock_log = (tmp_path / "report" / "mock.log").read_text()
    assert "refusing connections for 4 s" in mock_log and "listening again" in mock_log, mock_log


def test_endpoint_user_counts_every_failure_even_with_retries(tmp_path: Path) -> None:
    """The endpoint locustfile retries like the app, and what still fails is counted, never queued away."""
    import subprocess
    import sys

    import orjson

    from simulator.loadtest.runner import locustfile
    from tests.conftest import subprocess_env
    from tests.integration.test_run import start_mock, stop

    s = scenario(
        tmp_path, 'extends = "smoke"\n[client.retry]\nmax_attempts = 2\nbase = "10ms"\n[client.offline]\nshare = 0.1\n'
    )
    mock, url = start_mock("--error-rate", "0.5:503", "--retry-after", "0", "--seed", "4")
    report = tmp_path / "report"
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(locustfile("endpoint")),
                "--headless",
                "--host",
                url,
                "--scenario",
                s,
                "-u",
                "4",
                "-t",
                "4s",
                "--report-dir",
                str(report),
                "--only-summary",
            ],
            capture_output=True,
            text=True,
            timeout=90,
            env=subprocess_env(),
        )
    finally:
        stop(mock)
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert proc.returncode == 1, proc.stderr[-2000:]  # smoke allows no failure
    events = summary["endpoints"]["events"]
    # half the attempts fail; with one retry about a quarter of the requests still fail
    assert 0.1 < events["failures"] / events["count"] < 0.45, events
    assert summary["retries"]["total"] > 0 and summary["offline_queue"]["requeued"] == 0


def test_batched_events_go_out_together_with_their_own_times(tmp_path: Path) -> None:
    """[client] batch = 4: a session's events reach the collector in groups, back to back."""
    import itertools
    import sqlite3
    import statistics

    s = scenario(tmp_path, 'extends = "smoke"\n[client]\nbatch = 4\n[load]\nthink_time_scale = 0.014\n')
    code, out, _ = loadsim_run(tmp_path, s, "--run-time", "10s")
    assert code == 0, out  # nothing lost, nothing failed, reconciliation OK
    with sqlite3.connect(tmp_path / "report" / "mock.sqlite3") as db:
        rows = db.execute("SELECT sid, received_at FROM accepted WHERE endpoint = 'events' ORDER BY id").fetchall()
    by_session: dict[str, list[float]] = {}
    for sid, at in rows:
        by_session.setdefault(sid, []).append(at)
    gaps = sorted(b - a for times in by_session.values() if len(times) >= 8 for a, b in itertools.pairwise(times))
    assert gaps, by_session
    # most gaps are inside a batch (back to back); the rest are the think time between batches
    assert statistics.median(gaps) < 0.05 < gaps[-1], gaps[:5] + gaps[-5:]
