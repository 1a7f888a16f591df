"""``loadsim generate``: events written per second on one core, and memory as days and devices grow.

Issue #9's target: at least 250,000 events per second per core written as JSONL. Figures in CPU
seconds of this process (the machine is shared; wall time would measure the neighbours):

- "writer": the dataset's own work per request (the calendar, the JSONL body, the table row, the
  sort, the files) over device lives the journey engine produced beforehand: each life is recorded
  with the calendar's answers to the engine's session questions (``device_life``'s ``schedule``)
  and replayed asking them again, so the same files come out. All records fit one in-memory chunk;
- "writer, spilled runs": the same with chunks of 4,000 records, sorted, spilled and k-way merged
  (how a dataset larger than ``CHUNK_RECORDS`` is written);
- "end to end": ``generate()`` whole, the journey engine included (its own bench: bench_journey),
  and the same without the fixed start-up (population vocabularies, engine tables);
- "end to end, --jobs N": ``generate()`` whole with one worker process per core, in WALL-clock
  requests/s (the only fair clock for several processes; the CPU figures above are one core's),
  next to the one-process run's wall-clock rate: the two differ by what the extra cores bring
  (less on a shared machine whose neighbours are busy);
- "engine alone": the same devices' whole lives from the journey engine (a dataset plays only
  the part of each life inside its days), for reference;
- "floor": the same bodies only serialised and written, one write each: no Python generator of
  this kind can beat it on this machine.

Each rate is also given as a share of the target and of the floor: the floor scales with the
machine, so "share of the floor" compares across machines better than requests/s do.

Memory: peak RSS of a fresh process generating a small and a large dataset (4x the devices, 4x
the days): flat means the large one needs about what the small one does.

Run pinned to one core: ``taskset -c 1 .venv/bin/python -m bench dataset``, for the CPU figures;
the ``--jobs`` row uses the cores this process may run on, so pinned it shows ``--jobs 1``: run it
unpinned (``.venv/bin/python -m bench dataset``) to see what several cores bring.
"""

from __future__ import annotations

import dataclasses
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from simulator import dataset
from simulator.dataset.progress import Progress
from simulator.dataset.rows import Generator
from simulator.dataset.runs import CHUNK_RECORDS, Runs
from simulator.dataset.writer import write_files
from simulator.scenario import load_scenario

TARGET = 250_000
DEVICES = 2500
SIZES = ((1500, 7), (6000, 28))
SPILL_CHUNK = 4000


def _new_generator(n: int) -> Generator:
    sc = load_scenario("ecommerce")
    sc = dataclasses.replace(sc, population=dataclasses.replace(sc.population, devices=n))
    return Generator(sc, config=sc.time, start=sc.time.start_date(), days=7, table_format="csv")


Life = list[tuple[float | None, list[Any]]]


def _record(n: int) -> list[Life]:
    """Each device's life as the dataset plays it: runs of requests, each after the epoch at which
    the engine asked the calendar for a session start (``device_life``'s ``schedule``; None first)."""
    gen = _new_generator(n)
    engine, lives = gen.engine, []
    play = engine.device_life

    def recording(i: int, *, start_time: float | None = None, schedule: Any = None) -> Any:
        runs: Life = [(None, [])]
        lives.append(runs)

        def asked(proposed: float) -> float | None:
            runs.append((proposed, []))
            return schedule(proposed)

        for req in play(i, start_time=start_time, schedule=asked):
            runs[-1][1].append(req)
            yield req

    engine.device_life = recording  # type: ignore[method-assign]
    for i in range(n):
        gen.device(i, [], io.BytesIO())
    return lives


def _writer_rate(n: int, chunk: int = CHUNK_RECORDS, lives: list[Life] | None = None) -> tuple[float, int, float]:
    """Requests/s of the dataset's own work, the engine's output recorded beforehand (replayed with
    the same calendar questions, so the same files come out); and the floor on this machine: the
    same bodies only serialised and written (orjson + one write each)."""
    lives = _record(n) if lives is None else lives
    bodies = [r.body for life in lives for _, reqs in life for r in reqs]
    with tempfile.TemporaryFile() as f:
        dumps, option, write = orjson.dumps, orjson.OPT_APPEND_NEWLINE, f.write
        started = time.process_time()
        for body in bodies:
            write(dumps(body, option=option))
        floor = len(bodies) / (time.process_time() - started)

    def replay(i: int, *, start_time: float | None = None, schedule: Any = None) -> Any:
        for proposed, reqs in lives[i]:
            if proposed is not None:
                schedule(proposed)  # the calendar's work is the dataset's: it is timed
            yield from reqs  # delegated in C: next to nothing per request

    gen = _new_generator(n)
    gen.engine.device_life = replay  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "requests").mkdir()
        runs = Runs(out)
        started = time.process_time()
        buf = runs.buffer
        for i in range(n):
            gen.device(i, buf, io.BytesIO())
            if len(buf) >= chunk:
                runs.spill()
                buf = runs.buffer
        gen.finish()
        count = sum(gen.stats.requests.values())
        write_files(out, runs.merged(), table_format="csv", suffix="", gz=False, progress=Progress(False))
        took = time.process_time() - started
    return count / took, count, floor


def _end_to_end(n: int) -> tuple[float, float, int, float]:
    """(requests/s of generate() whole, the same without its fixed start-up, requests, the whole's
    requests/s in wall-clock time)."""
    with tempfile.TemporaryDirectory() as tmp:
        wall = time.perf_counter()
        started = time.process_time()
        summary = dataset.generate("ecommerce", out=tmp, users=n, days=7, quiet=True)
        took = time.process_time() - started
        wall = time.perf_counter() - wall
    sc = load_scenario("ecommerce")
    started = time.process_time()
    Generator(sc, config=sc.time, start=sc.time.start_date(), days=7, table_format="csv")
    fixed = time.process_time() - started  # the population's vocabularies (Faker), the engine's tables
    count = summary["requests"]["total"]
    return count / took, count / max(took - fixed, 1e-9), count, count / wall


def _end_to_end_jobs(n: int, jobs: int) -> float:
    """Requests/s of generate() whole with ``jobs`` worker processes, in WALL-clock time (the
    workers' CPU is not this process's, and wall time is what a user waits)."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        summary = dataset.generate("ecommerce", out=tmp, users=n, days=7, quiet=True, jobs=jobs)
        took = time.perf_counter() - started
    return summary["requests"]["total"] / took


def _engine_rate(n: int) -> float:
    gen = _new_generator(n)
    started = time.process_time()
    count = sum(1 for i in range(n) for _ in gen.engine.device_life(i))
    return count / (time.process_time() - started)


_CHILD = """
import resource, sys, tempfile
from simulator.dataset import generate
with tempfile.TemporaryDirectory() as tmp:
    s = generate("ecommerce", out=tmp, users=int(sys.argv[1]), days=int(sys.argv[2]), quiet=True)
print(s["requests"]["total"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_rss(users: int, days: int) -> tuple[int, float]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(users), str(days)], capture_output=True, text=True, check=True, timeout=120
    )
    requests, kib = done.stdout.split()
    return int(requests), int(kib) / 1024


def main() -> dict[str, Any]:
    lives = _record(DEVICES)
    writer, written, floor = _writer_rate(DEVICES, lives=lives)
    spilled, _, _ = _writer_rate(DEVICES, chunk=SPILL_CHUNK, lives=lives)
    whole, whole_net, count, whole_wall = _end_to_end(DEVICES)
    # The cores this process may use (what --jobs 0 takes on an unpinned run: os.cpu_count()).
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    parallel_wall = _end_to_end_jobs(DEVICES, cores)
    engine = _engine_rate(DEVICES)
    print(f"ecommerce, {DEVICES} devices, 7 days, CPU time of one process")
    print(f"{'stage':<36} {'requests':>9} {'requests/s':>11} {'of target':>10} {'of floor':>9}")
    for label, n, rate in (
        ("writer (engine output given)", written, writer),
        (f"writer, spilled runs of {SPILL_CHUNK:,}", written, spilled),
        ("end to end (generate)", count, whole),
        ("end to end, without start-up", count, whole_net),
        ("engine alone (whole lives)", None, engine),
        ("floor: orjson + write, nothing else", None, floor),
    ):
        print(f"{label:<36} {n or '':>9} {rate:>11,.0f} {rate / TARGET:>10.0%} {rate / floor:>9.0%}")
    print(f"{'end to end, --jobs 1 (WALL time)':<36} {count:>9} {whole_wall:>11,.0f}   {count / whole_wall:.2f} s")
    print(
        f"{f'end to end, --jobs {cores} (WALL time)':<36} {count:>9} {parallel_wall:>11,.0f}   "
        f"{count / parallel_wall:.2f} s; {cores} processes: wall-clock requests/s, not per core "
        f"({parallel_wall / whole_wall:.2f}x)"
    )
    print(f"end to end vs the floor of the same records, one process: {whole / floor:.1%} (issue #19's target: 25%)")
    verdict = "MEETS" if whole_net >= TARGET else "BELOW"
    print(f"target {TARGET:,} events/s written as JSONL per core (end to end, without start-up): {verdict} TARGET")
    memory = []
    for users, days in SIZES:
        requests, mib = _peak_rss(users, days)
        memory.append({"devices": users, "days": days, "requests": requests, "peak_rss_mib": round(mib, 1)})
        print(f"peak RSS {users:>6} devices x {days:>2} days ({requests:>8} requests): {mib:6.1f} MiB")
    return {
        "writer_rps": round(writer),
        "writer_spilled_rps": round(spilled),
        "end_to_end_rps": round(whole),
        "end_to_end_net_rps": round(whole_net),
        "end_to_end_wall_rps": round(whole_wall),
        "end_to_end_jobs": cores,
        "end_to_end_jobs_wall_rps": round(parallel_wall),
        "engine_rps": round(engine),
        "floor_rps": round(floor),
        "end_to_end_of_floor": round(whole / floor, 4),
        "target_rps": TARGET,
        "memory": memory,
        "own_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":
    main()
