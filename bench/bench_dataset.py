"""``loadsim generate``: requests written per CPU-second on one core, against the floor of the same
bodies only serialised and written; and memory as devices and days grow.

Issue #19's figures, side by side in one run, in CPU seconds of this process (the machine is
shared: wall time would measure the neighbours):

- "end to end": ``generate()`` whole (the calendar, the journey engine, the bodies from fragments,
  the table rows, the sorted runs, the files), and the same without its fixed start-up
  (population vocabularies, engine tables);
- "engine decisions alone": the same devices' steps on the same calendar, the journey engine's
  decisions (``JourneyEngine.walk`` with the draws of each step), no body, row, record or file:
  what any way of writing the dataset pays first;
- "floor": the dataset's own request bodies, parsed back into the dicts the engine builds, only
  serialised by orjson and written, one write each, into a new file as generate() writes its own:
  no Python generator of this kind beats it. Beside it, the same into one file rewritten in place
  (what this bench measured before: its pages are in the page cache from the pass before, which
  no new dataset's are, so it reads about 1.3x faster);
- "writer path alone": the same records (played first, untimed) gathered in chunks, each sorted
  and spilled to a run, merged and written into the files, as generate() does: what is left of the
  end to end once playing the devices costs nothing;
- "in-session walk, columnar": the first piece of the columnar engine (``dataset.columnar``): the
  states, clocks and draws of each session's steps, the engine's own (tests/unit/test_columnar.py),
  decided a block of 8,192 sessions at a time, per step sent; not yet what generate() runs;
- end to end as a share of the floor: issue #19's target is 25%, its aim 40%;
- "end to end, --jobs N": ``generate()`` with one worker process per core, in WALL-clock
  requests/s (the only fair clock for several processes), next to one process's wall-clock rate.

Memory: peak RSS of a fresh process generating a dataset, then 4x its devices, then 4x its days:
flat means within 10% of the first.

Run pinned to one core: ``taskset -c 1 .venv/bin/python -m bench dataset``, for the CPU figures;
the ``--jobs`` row uses the cores this process may run on, so pinned it shows ``--jobs 1``: run it
unpinned (``.venv/bin/python -m bench dataset``) to see what several cores bring.
"""

from __future__ import annotations

import dataclasses
import io
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from simulator import dataset, draws
from simulator.dataset.columnar import BlockWalk, device_seeds
from simulator.dataset.progress import Progress
from simulator.dataset.rows import _FAST_ACTIONS, Generator, _Life
from simulator.dataset.runs import CHUNK_RECORDS, Record, Runs
from simulator.dataset.writer import write_files
from simulator.scenario import load_scenario

TARGET_OF_FLOOR = 0.25
DEVICES = 2500
DAYS = 7
#: (devices, days): a dataset, 4x its devices, 4x its days. The first is past one sorted chunk
#: (runs.CHUNK_RECORDS), as the others are: a smaller one would hold all its records at once and
#: measure the chunk's size rather than how memory grows.
SIZES = ((5000, 7), (20000, 7), (5000, 28))


def _generator(n: int) -> Generator:
    sc = load_scenario("ecommerce")
    sc = dataclasses.replace(sc, population=dataclasses.replace(sc.population, devices=n))
    return Generator(sc, config=sc.time, start=sc.time.start_date(), days=DAYS, table_format="csv")


def _end_to_end(n: int, out: Path) -> tuple[float, float, int, float]:
    """(requests/s of generate() whole, the same without its fixed start-up, requests, the whole's
    requests/s in wall-clock time), the best of three runs like the floor (the first run in a process
    also pays for lazy imports and the page cache's first touch); the dataset stays in ``out``."""
    took = wall = float("inf")
    for _ in range(3):
        wall_started = time.perf_counter()
        started = time.process_time()
        summary = dataset.generate("ecommerce", out=out, users=n, days=DAYS, quiet=True)
        took = min(took, time.process_time() - started)
        wall = min(wall, time.perf_counter() - wall_started)
    started = time.process_time()
    _generator(n)
    fixed = time.process_time() - started  # the population's vocabularies (Faker), the engine's tables
    count = summary["requests"]["total"]
    return count / took, count / max(took - fixed, 1e-9), count, count / wall


def _decisions(n: int) -> float:
    """Requests/s of the engine's decisions alone for the dataset's devices on its calendar: each
    step taken with its draws (a product viewed, a cart line, a session's ids), nothing written."""
    gen = _generator(n)
    engine, cal = gen.engine, gen.calendar
    started = time.process_time()
    count = 0
    for i in range(n):
        gi = gen.population.device_index(i)
        dev = gen._devices.fetch(i)
        tz = str(dev["info"].get("deviceTimeZone", "UTC"))
        life = _Life(cal, engine, random.Random(gen._calendar_tag | gi), tz, gen.timeout)
        life.open_day(life.install)
        state, steps = engine.walk(i, start_time=life.install, schedule=life.schedule)
        # The draws of each step as Generator._play makes them (it renders these four itself).
        for node, stamp in steps:
            if node is not None:
                action = node.action
                if action not in _FAST_ACTIONS:
                    if engine.send(state, node, stamp) is None:
                        continue  # nothing sent (an empty cart cannot check out)
                elif action == "view_item":
                    engine.view_item(state, node)
                elif action == "search":
                    engine.search(state, node)
                elif action == "add_to_cart":
                    engine.add_to_cart(state, node)
            t = life.install + state.t
            if t >= life.end_utc:
                break
            life.last_t = t
            count += 1
    return count / (time.process_time() - started)


def _writer_path(n: int) -> float:
    """Requests/s of the writer path alone over the dataset's records, best of three: every chunk but
    the last spilled as a sorted run, then merged with the last (held in memory) into new files."""
    gen = _generator(n)
    records: list[Record] = []
    for i in range(n):
        gen.device(i, records, io.BytesIO())
    best = 0.0
    for _ in range(3):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            (out / "requests").mkdir()
            started = time.process_time()
            runs = Runs(out)
            for k in range(0, len(records), CHUNK_RECORDS):
                runs.buffer = records[k : k + CHUNK_RECORDS]
                if k + CHUNK_RECORDS < len(records):
                    runs.spill()
            write_files(out, runs.merged(), table_format="csv", suffix="", gz=False, progress=Progress(False))
            best = max(best, len(records) / (time.process_time() - started))
    return best


def _columnar_walk(n: int) -> float:
    """Steps sent per second of the columnar in-session walk: four sessions of each of ``n`` devices
    (their keys as the engine makes them), from the start state, a block of 8,192 at a time."""
    gen = _generator(n)
    block = BlockWalk(gen.engine)
    seeds = device_seeds(gen.engine, range(n))
    keys = draws.session_keys(np.repeat(seeds, 4), np.tile(np.arange(4, dtype=np.uint64), n))
    started = time.process_time()
    steps = 0
    for k in range(0, len(keys), 8192):
        part = keys[k : k + 8192]
        zeros = np.zeros(len(part), np.int64)
        steps += len(block.walk(part, zeros + block.start, zeros, np.zeros(len(part))).node)
    return steps / (time.process_time() - started)


def _floor(out: Path) -> tuple[float, float]:
    """Requests/s of the dataset's bodies (parsed back into dicts) serialised and written, one write
    each: (into a new file each pass, as generate() writes its files; into one file rewritten in
    place, whose pages the page cache holds from the pass before). Best of three passes each."""
    bodies = [orjson.loads(line) for f in sorted((out / "requests").glob("*.jsonl")) for line in f.open("rb")]
    dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE

    def write_all(f: Any) -> float:
        write = f.write
        started = time.process_time()
        for body in bodies:
            write(dumps(body, option=option))
        f.flush()
        return len(bodies) / (time.process_time() - started)

    fresh = 0.0
    for _ in range(3):
        with tempfile.TemporaryFile(dir=out) as f:  # on the dataset's disk
            fresh = max(fresh, write_all(f))
    rewritten = 0.0
    with tempfile.TemporaryFile(dir=out) as f:
        for _ in range(3):  # the first pass also pays for the page cache's first touch
            f.seek(0)
            rewritten = max(rewritten, write_all(f))
    return fresh, rewritten


def _end_to_end_jobs(n: int, jobs: int) -> float:
    """Requests/s of generate() whole with ``jobs`` worker processes, in WALL-clock time (the
    workers' CPU is not this process's, and wall time is what a user waits)."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        summary = dataset.generate("ecommerce", out=tmp, users=n, days=DAYS, quiet=True, jobs=jobs)
        took = time.perf_counter() - started
    return summary["requests"]["total"] / took


_CHILD = """
import sys, tempfile
from simulator.dataset import generate
with tempfile.TemporaryDirectory() as tmp:
    s = generate("ecommerce", out=tmp, users=int(sys.argv[1]), days=int(sys.argv[2]), quiet=True)
with open("/proc/self/status") as f:
    peak = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
print(s["requests"]["total"], peak)
"""


def _peak_rss(users: int, days: int) -> tuple[int, float]:
    """Requests and peak RSS (MiB) of a fresh process generating a dataset. VmHWM, not getrusage's
    ru_maxrss: Linux carries ru_maxrss across exec, so a child would report its parent's peak."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(users), str(days)], capture_output=True, text=True, check=True, timeout=300
    )
    requests, kib = done.stdout.split()
    return int(requests), int(kib) / 1024


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        whole, whole_net, count, whole_wall = _end_to_end(DEVICES, Path(tmp))
        floor, floor_rewritten = _floor(Path(tmp))
    decisions = _decisions(DEVICES)
    walk = _columnar_walk(DEVICES)
    writer = _writer_path(DEVICES)
    # The cores this process may use (what --jobs 0 takes on an unpinned run: os.cpu_count()).
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    parallel_wall = _end_to_end_jobs(DEVICES, cores)
    print(f"ecommerce, {DEVICES} devices, {DAYS} days, {count:,} requests, CPU time of one process")
    print(f"{'stage':<40} {'requests/s':>11} {'us/request':>11} {'of floor':>9}")
    for label, rate in (
        ("end to end (generate)", whole),
        ("end to end, without start-up", whole_net),
        ("engine decisions alone (no bodies)", decisions),
        ("writer path alone (runs, merge, files)", writer),
        ("floor: orjson + write of its bodies", floor),
        ("floor, one file rewritten in place", floor_rewritten),
    ):
        print(f"{label:<40} {rate:>11,.0f} {1e6 / rate:>11.2f} {rate / floor:>9.1%}")
    print(f"{'in-session walk, columnar':<40} {walk:>11,.0f} steps/s, {1e6 / walk:.2f} us a step sent")
    share = whole / floor
    verdict = "MEETS" if share >= TARGET_OF_FLOOR else "BELOW"
    print(
        f"end to end vs the floor, one process: {share:.1%} ({verdict} issue #19's target of 25%; aim 40%); "
        f"{whole / floor_rewritten:.1%} of the rewritten-in-place floor"
    )
    print(f"{'end to end, --jobs 1 (WALL time)':<40} {whole_wall:>11,.0f}   {count / whole_wall:.2f} s")
    print(
        f"{f'end to end, --jobs {cores} (WALL time)':<40} {parallel_wall:>11,.0f}   {count / parallel_wall:.2f} s; "
        f"{cores} processes: wall-clock requests/s, not per core ({parallel_wall / whole_wall:.2f}x)"
    )
    memory = []
    for users, days in SIZES:
        requests, mib = _peak_rss(users, days)
        memory.append({"devices": users, "days": days, "requests": requests, "peak_rss_mib": round(mib, 1)})
    base = memory[0]["peak_rss_mib"]
    for m in memory:
        growth = m["peak_rss_mib"] / base - 1
        flat = "flat" if abs(growth) <= 0.10 else "NOT FLAT"
        print(
            f"peak RSS {m['devices']:>6} devices x {m['days']:>2} days ({m['requests']:>8} requests): "
            f"{m['peak_rss_mib']:6.1f} MiB ({growth:+.1%}: {flat})"
        )
    return {
        "end_to_end_rps": round(whole),
        "end_to_end_net_rps": round(whole_net),
        "end_to_end_wall_rps": round(whole_wall),
        "end_to_end_jobs": cores,
        "end_to_end_jobs_wall_rps": round(parallel_wall),
        "engine_decisions_rps": round(decisions),
        "columnar_walk_steps_per_s": round(walk),
        "writer_path_rps": round(writer),
        "floor_rps": round(floor),
        "floor_rewritten_rps": round(floor_rewritten),
        "end_to_end_of_floor": round(share, 4),
        "target_of_floor": TARGET_OF_FLOOR,
        "memory": memory,
        "own_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":
    main()
