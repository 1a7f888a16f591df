"""The harness against a bare Locust user, same mock, same run, one core each (issue #6: >= 90%).

The mock is pinned to one core and Locust to the other, so each side has a core to itself and
the figure is the load generator's, not the collector's.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

RUN_TIME = "15s"
USERS = "50"
ROOT = Path(__file__).resolve().parent.parent


def _pin(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def _locust_rps(locustfile: str, host: str, out: Path, *extra: str) -> float:
    env = {k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"}
    cmd = [*_pin(0), sys.executable, "-m", "locust", "-f", locustfile, "--headless", "--host", host, "-u", USERS,
           "-r", USERS, "-t", RUN_TIME, "--only-summary", "--csv", str(out / "locust"), *extra]
    subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=False, timeout=120)
    with (out / "locust_stats.csv").open() as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return float(row["Requests/s"])


def main() -> dict[str, float]:
    mock = subprocess.Popen([*_pin(1), sys.executable, "-m", "simulator.mock", "--port", "0", "--store", ":memory:"],
                            stdout=subprocess.PIPE, text=True)
    assert mock.stdout is not None
    host = mock.stdout.readline().rsplit(" ", 1)[-1].strip()
    figures: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runs = {
                "bare FastHttpUser, constant body": ("bench/bare_locustfile.py",),
                "loadsim endpoint.py (events)": ("locustfiles/endpoint.py", "--scenario", "ecommerce",
                                                 "--report-dir", f"{tmp}/e"),
                "loadsim tracking.py (journeys, no think time)": (
                    "locustfiles/tracking.py", "--scenario", "ecommerce", "--think-scale", "0",
                    "--report-dir", f"{tmp}/t"),
            }
            for i, (name, (locustfile, *extra)) in enumerate(runs.items()):
                out = Path(tmp) / str(i)
                out.mkdir()
                figures[name] = _locust_rps(locustfile, host, out, *extra)
    finally:
        mock.send_signal(signal.SIGTERM)
        mock.wait(30)
    bare = figures["bare FastHttpUser, constant body"]
    print(f"{'load generator (one core, ' + USERS + ' users, ' + RUN_TIME + ')':<52} {'req/s':>9} {'vs bare':>8}")
    for name, rps in figures.items():
        print(f"{name:<52} {rps:>9.0f} {rps / bare:>8.0%}")
    figures["tracking_vs_bare"] = round(figures["loadsim tracking.py (journeys, no think time)"] / bare, 3)
    print(f"target: journeys at >= 90% of bare -> {'OK' if figures['tracking_vs_bare'] >= 0.9 else 'BELOW'}")
    return figures
