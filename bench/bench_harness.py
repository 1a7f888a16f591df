"""The harness against a bare Locust user, same mock, same run, one core each (issue #6: >= 90%).

The mock is pinned to one core and Locust to the other, so each side has a core to itself and
the figure is the load generator's, not the collector's.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RUN_TIME = "8s"
#: Rounds in which the three load generators take turns: this machine's speed drifts by tens of
#: percent within a minute, so each figure is a median and each ratio is taken within a round.
ROUNDS = 3
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
    rps: dict[str, list[float]] = {}
    ratios: list[float] = []
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
            for r in range(ROUNDS):
                this_round: dict[str, float] = {}
                for i, (name, (locustfile, *extra)) in enumerate(runs.items()):
                    out = Path(tmp) / f"{r}-{i}"
                    out.mkdir()
                    this_round[name] = _locust_rps(locustfile, host, out, *extra)
                    rps.setdefault(name, []).append(this_round[name])
                ratios.append(this_round["loadsim tracking.py (journeys, no think time)"]
                              / this_round["bare FastHttpUser, constant body"])
    finally:
        mock.send_signal(signal.SIGTERM)
        mock.wait(30)
    bare = statistics.median(rps["bare FastHttpUser, constant body"])
    print(f"{'load generator (one core, ' + USERS + ' users, ' + RUN_TIME + ' x ' + str(ROUNDS) + ')':<52}"
          f" {'median req/s':>13} {'vs bare':>8}  rounds")
    figures: dict[str, float] = {}
    for name, values in rps.items():
        med = statistics.median(values)
        figures[name] = med
        print(f"{name:<52} {med:>13.0f} {med / bare:>8.0%}  {', '.join(f'{v:.0f}' for v in values)}")
    figures["tracking_vs_bare"] = round(statistics.median(ratios), 3)
    print(f"journeys vs bare, median of per-round ratios: {figures['tracking_vs_bare']:.0%} "
          f"(target >= 90%: {'OK' if figures['tracking_vs_bare'] >= 0.9 else 'BELOW'})")
    return figures
