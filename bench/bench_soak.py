"""A soak: ``loadsim run soak`` for 10 minutes (``LOADSIM_SOAK_SECONDS``), the memory of the load
generator and of the mock sampled every 10 s. Histograms, bounded queues and a bounded timeline
must keep the generator's memory flat however long the run (issue #10)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import psutil

SECONDS = int(os.environ.get("LOADSIM_SOAK_SECONDS", "600"))
SAMPLE_EVERY = 10.0


def _rss_mb(proc: psutil.Process) -> dict[str, float]:
    """RSS of the Locust and mock processes under ``loadsim run``, by role."""
    out: dict[str, float] = {}
    for child in proc.children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
            role = "mock" if "simulator.mock" in cmd else "locust" if "locust" in cmd else None
            if role:
                out[role] = out.get(role, 0.0) + child.memory_info().rss / 2**20
        except psutil.Error:
            continue
    return out


def main() -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"}
    curve: list[tuple[float, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "simulator",
                "run",
                "soak",
                "--run-time",
                f"{SECONDS}s",
                "--report-dir",
                str(Path(tmp) / "r"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        parent = psutil.Process(run.pid)
        started = time.monotonic()
        while run.poll() is None:
            time.sleep(SAMPLE_EVERY)
            sample = _rss_mb(parent)
            if sample:
                curve.append((round(time.monotonic() - started), sample))
        summary = (
            (Path(tmp) / "r" / "summary.json").read_bytes() if (Path(tmp) / "r" / "summary.json").is_file() else b"{}"
        )
    print(f"{'seconds':>8} {'locust MB':>10} {'mock MB':>8}")
    for t, s in curve:
        print(f"{t:>8} {s.get('locust', 0):>10.1f} {s.get('mock', 0):>8.1f}")
    locust = [s.get("locust", 0.0) for _, s in curve]
    # growth over the second half: a leak shows there, after warm-up
    half = locust[len(locust) // 2 :] or [0.0]
    growth = half[-1] - half[0]
    print(f"load generator memory over the second half: {growth:+.1f} MB (flat: within a few MB)")
    total = orjson.loads(summary).get("total", {})
    return {
        "seconds": SECONDS,
        "requests": total.get("count"),
        "locust_mb": locust,
        "second_half_growth_mb": round(growth, 1),
    }
