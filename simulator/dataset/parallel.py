"""Several processes (``--jobs``): contiguous blocks of devices played in worker processes."""

from __future__ import annotations

import dataclasses
import datetime
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from simulator.dataset.layout import DatasetError
from simulator.dataset.progress import Progress
from simulator.dataset.rows import Generator
from simulator.dataset.runs import Runs
from simulator.dataset.stats import Stats
from simulator.scenario import Scenario, TimeConfig


def play(
    gen: Generator,
    low: int,
    high: int,
    runs: Runs,
    device_rows: IO[bytes],
    chunk_records: int,
    done: Callable[[int], None],
) -> None:
    """Devices ``low`` to ``high - 1``: their records into ``runs`` (spilled every ``chunk_records``),
    their rows to ``device_rows``; ``done(k)`` after the k-th."""
    buf = runs.buffer
    for i in range(low, high):
        gen.device(i, buf, device_rows)
        if len(buf) >= chunk_records:
            runs.spill()
            buf = runs.buffer
        done(i + 1 - low)


@dataclass(frozen=True, slots=True)
class Block:
    """What a worker process needs to play its contiguous block of devices."""

    scenario: Scenario
    config: TimeConfig
    start: datetime.date
    days: int
    table_format: str
    index: int
    count: int
    low: int
    high: int
    #: The run's temporary directory (the worker writes under ``block-<index>/``).
    directory: Path
    chunk_records: int


#: The parent's generator, inherited by forked workers (built before any file is open), which
#: saves each of them building the population again; spawned workers build their own.
_FORKED: Generator | None = None


def play_block(block: Block, progress: Any = None) -> tuple[Stats, list[Path], Path]:
    """Play one block of devices in this process: (its statistics, its sorted runs, its devices.csv
    rows). Every record's key is global (time, device, sequence), so the parent's merge of all
    blocks' runs gives the order one process gives; the statistics merge exactly (``Stats.merge``)."""
    gen = _FORKED or Generator(
        block.scenario, config=block.config, start=block.start, days=block.days, table_format=block.table_format
    )
    directory = block.directory / f"block-{block.index:03d}"
    directory.mkdir()
    runs = Runs(directory)
    parent = os.getppid()
    reported = 0

    def done(k: int) -> None:
        nonlocal reported
        if k - reported >= 16 or block.low + k == block.high:
            if progress is not None:
                with progress.get_lock():
                    progress.value += k - reported
            reported = k
            if os.getppid() != parent:  # the parent is gone (killed): nobody will read this block
                os._exit(1)

    part = block.directory / f"devices-{block.index:03d}.csv"
    with part.open("wb") as rows:
        play(gen, block.low, block.high, runs, rows, block.chunk_records, done)
    runs.spill()  # everything on disk: the parent reads the runs, not this process's memory
    gen.finish()
    return gen.stats, runs.files, part


def _worker(block: Block, conn: multiprocessing.connection.Connection, progress: Any) -> None:
    # Ctrl-C reaches the whole process group: the parent alone decides, and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's terminate() ends a worker, whatever the parent set
    try:
        conn.send(("ok", play_block(block, progress)))
    except BaseException as exc:  # whatever it is, the parent must hear of it
        where = ""
        for frame in traceback.extract_tb(exc.__traceback__)[-1:]:
            where = f" (at {Path(frame.filename).name}:{frame.lineno} in {frame.name})"
        conn.send(("error", f"{type(exc).__name__}: {exc}{where}"))
    finally:
        conn.close()


def _mp_context() -> multiprocessing.context.ForkContext | multiprocessing.context.SpawnContext:
    # fork shares the population already built; spawn where there is no fork (macOS defaults, Windows).
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def play_parallel(gen: Generator, whole: Block, bar: Progress) -> tuple[Runs, list[Path]]:
    """Devices ``whole.low`` to ``whole.high - 1``, in ``whole.count`` worker processes on contiguous
    blocks; sets ``gen.stats`` to the merged statistics and returns the runs to merge and the
    devices.csv parts in device order.

    A worker that fails (or dies) stops the run with a DatasetError naming it; Ctrl-C stops the
    workers too: none outlives this call."""
    global _FORKED
    ctx = _mp_context()
    lo, n, count = whole.low, whole.high - whole.low, whole.count  # a --shard plays low..high only
    progress = ctx.Value("q", 0)
    blocks = [
        dataclasses.replace(whole, index=k, low=lo + n * k // count, high=lo + n * (k + 1) // count)
        for k in range(count)
    ]
    procs: list[tuple[Any, multiprocessing.connection.Connection]] = []
    results: list[tuple[Stats, list[Path], Path] | None] = [None] * count
    # A forked child flushes its copy of what is buffered here when it exits: flush first.
    sys.stdout.flush()
    sys.stderr.flush()
    _FORKED = gen if ctx.get_start_method() == "fork" else None
    try:
        for block in blocks:
            recv, send = ctx.Pipe(duplex=False)
            p = ctx.Process(
                target=_worker, args=(block, send, progress), name=f"loadsim-generate-{block.index}", daemon=True
            )
            p.start()
            send.close()  # the worker holds the only write end: its death reads as end of file here
            procs.append((p, recv))
        waiting = {recv: k for k, (_, recv) in enumerate(procs)}
        while waiting:
            for ready in multiprocessing.connection.wait(list(waiting), timeout=0.2):
                conn = cast(multiprocessing.connection.Connection, ready)  # wait() gives back what it was given
                k = waiting.pop(conn)
                b = blocks[k]
                name = f"worker {k + 1} of {count} (devices {b.low} to {b.high - 1})"
                try:
                    status, value = conn.recv()
                except EOFError:
                    p = procs[k][0]
                    p.join(5)
                    raise DatasetError(
                        f"{name} stopped without an answer (exit code {p.exitcode}; killed, or out of "
                        "memory?); no dataset was written: run again, with fewer --jobs"
                    ) from None
                if status != "ok":
                    raise DatasetError(
                        f"{name} failed: {value}; no dataset was written: run with --jobs 1 for the full traceback"
                    )
                results[k] = value
            bar.update(progress.value)
    finally:
        _FORKED = None
        for p, recv in procs:
            if p.is_alive():
                p.terminate()
            p.join()
            recv.close()
    stats = Stats(whole.days)
    runs = Runs(whole.directory)
    parts: list[Path] = []
    for result in results:  # block order: the devices.csv parts must come in device order
        assert result is not None
        block_stats, files, part = result
        stats.merge(block_stats)
        runs.files += files
        parts.append(part)
    gen.stats = stats
    return runs, parts
