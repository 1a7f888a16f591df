"""``loadsim generate``: the devices played, their runs merged into the files, the summary and README."""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

import orjson

from simulator import catalog
from simulator.dataset.layout import (
    BOOL_COLUMNS,
    CATEGORY_COLUMNS,
    DEVICE_COLUMNS,
    DEVICE_INT_COLUMNS,
    ENDPOINT_NAMES,
    FLOAT_COLUMNS,
    FORMAT_VERSION,
    FORMATS,
    INT_COLUMNS,
    TABLE_COLUMNS,
    UTC_COLUMNS,
    WALL_CLOCK_COLUMNS,
    DatasetError,
    OptionError,
)
from simulator.dataset.parallel import Block, play, play_parallel
from simulator.dataset.progress import Progress
from simulator.dataset.rows import Generator, csv_line
from simulator.dataset.runs import CHUNK_RECORDS, LIMITS, Batch, RunError, Runs
from simulator.dataset.shards import (
    SHARD_DEVICES,
    SHARD_MANIFEST,
    SHARD_RECORDS,
    read_shards,
    scenario_fingerprint,
    shard_range,
    write_shard,
)
from simulator.dataset.stats import Stats, conversion_table
from simulator.errors import ScenarioError, ScenarioProblem
from simulator.journey import ENGINE_VERSION
from simulator.machine import headroom, usable_cpus
from simulator.population import BUILD_BYTES_PER_DEVICE
from simulator.scenario import MAX_DAYS, Scenario, check_seed, load_scenario, say_warnings, scenario_dir
from simulator.scenario.load import shown_file

__all__ = ["finish_dataset", "generate", "merge", "publish"]


class _GzipOut(gzip.GzipFile):
    """A gzip file that also closes the file under it (``GzipFile(fileobj=...)`` leaves it open)."""

    def close(self) -> None:
        raw = cast("IO[bytes] | None", self.fileobj)  # the file open_out gave it
        try:
            super().close()
        finally:
            if raw is not None:
                raw.close()


def open_out(path: Path, gz: bool) -> IO[bytes]:
    raw = path.open("wb")
    if not gz:
        return raw
    # No file name and mtime 0 in the header: the same dataset gives the same bytes. (A GzipFile is a
    # binary file; typeshed does not call it IO[bytes].)
    return _GzipOut(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)  # type: ignore[return-value]


def generate(
    scenario: str | Path | Scenario,
    *,
    out: str | Path,
    users: int | None = None,
    days: int | None = None,
    start: str | datetime.date | None = None,
    seed: int | None = None,
    table_format: str = "csv",
    gzip_output: bool = False,
    progress: bool | None = None,
    quiet: bool = False,
    chunk_records: int = CHUNK_RECORDS,
    jobs: int = 1,
    shard: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Write a dataset to ``out`` and return its summary (also ``out/summary.json``).

    ``users``, ``days``, ``start`` and ``seed`` override the scenario's population size, ``[time]``
    days and start date, and seed. ``progress`` defaults to "stderr is a terminal and not quiet".
    ``jobs`` processes play the devices (0: one per usable CPU, ``machine.usable_cpus``); the same files
    for any ``jobs``.
    ``shard=(i, n)`` plays only shard ``i`` of ``n`` (contiguous devices) and leaves it in ``out`` for
    ``merge`` (simulator.dataset.shards) to join with the others into the dataset one run writes.
    """
    if jobs < 0:
        raise OptionError(f"--jobs must be 0 (one process per core) or a number of processes, got {jobs}")
    if table_format not in FORMATS:
        raise OptionError(f"--format must be one of {', '.join(FORMATS)}, got {table_format!r}")
    if table_format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise OptionError(
                "--format parquet needs pyarrow: pip install 'loadsim[parquet]' "
                "(or pip install pyarrow), or use --format csv"
            ) from None
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    say_warnings(sc)  # as its notes: on stderr whether quiet or not
    ref = _scenario_ref(sc)
    changes: dict[str, Any] = {}
    if seed is not None:
        try:
            check_seed(seed)
        except ValueError as exc:
            raise OptionError(f"--seed {exc}") from None
        changes["seed"] = seed
    if users is not None:
        if users < 1:
            raise OptionError(f"--users must be at least 1, got {users}")
        changes["population"] = dataclasses.replace(sc.population, devices=users)
    if changes:
        sc = dataclasses.replace(sc, **changes)
    # Each value is named where it came from: the flag, or the scenario's field.
    named = f" (in {scenario if not isinstance(scenario, Scenario) else ref})"
    if sc.population.devices > LIMITS["device"]:
        devices_is = "--users" if users is not None else "population.devices"
        raise OptionError(
            f"{devices_is} {sc.population.devices:,}{'' if users is not None else named} is past the "
            f"{LIMITS['device']:,} devices a dataset holds: generate fewer, or several datasets with different --seed"
        )
    config = sc.time
    n_days = config.days if days is None else days
    if n_days < 1:
        raise OptionError(f"--days must be at least 1, got {n_days}")
    try:
        first = (
            (start if isinstance(start, datetime.date) else datetime.date.fromisoformat(start))
            if start
            else config.start_date()
        )
    except ValueError:
        raise OptionError(f"--start must be an ISO date such as 2026-01-05, got {start!r}") from None
    # The scenario's own start and days passed its check: at least one of them is a flag.
    start_is = f"--start {first}" if start else f"time.start {first}{named}"
    days_is = f"--days {n_days:,}" if days is not None else f"time.days {n_days:,}{named}"
    most = config.days_before_year_10000(first)
    if most == 0:
        latest = datetime.date.max - datetime.timedelta(days=2)
        raise OptionError(
            f"{start_is} leaves no day before the year 9999 ends: a dataset's last local day, and the UTC day "
            f"after it, are dates; start by {latest}"
        )
    if n_days > most:
        raise OptionError(f"{start_is} and {days_is} run past the year 9999: at most {most:,} days from {first}")
    idle = config.idle_weekdays(first, n_days)
    if idle:
        weights = "time.weekly weights" + (named if start and days is not None else "")  # else named already
        raise OptionError(
            f"{start_is} and {days_is} span {', '.join(idle)} only, whose {weights} are all 0: "
            "no device could install or come back"
        )
    limit = config.max_days()
    if limit is not None and n_days > limit:
        # The scenario's own days passed its check: --days asks for more than the growth allows.
        growth = config.install_growth
        raise OptionError(
            f"--days {n_days:,} with time.install_growth {growth!r} grows a day's installs "
            f"{1 + growth:g}^{n_days - 1:,}-fold, past what a float holds: at most {limit:,} days at that growth"
        )
    if n_days > MAX_DAYS:
        # The scenario's own days passed its check (the same limit): --days asks for more.
        raise OptionError(
            f"--days {n_days:,} is past the {MAX_DAYS:,} days (100 years) a dataset spans: its calendar holds "
            "every hour's UTC offset in each time zone, about 1 KB a zone a day"
        )
    late = [c for c in config.campaigns if c.day > n_days]
    if late:
        sys.stderr.write(
            f"loadsim: note: campaign day(s) {', '.join(str(c.day) for c in late)} fall after the "
            f"{n_days} simulated day(s) and are left out\n"
        )
    for problem in catalog.staleness(first + datetime.timedelta(days=n_days - 1)):
        # Devices would be drawn from a catalogue that stops before the simulated days: say so.
        sys.stderr.write(f"loadsim: note: {problem}\n")
    devices_at = ("--users", "") if users is not None else ("population.devices", named)
    _check_memory(sc.population.devices, *devices_at)
    show = (sys.stderr.isatty() if progress is None else progress) and not quiet
    bar = Progress(show)

    try:  # before the folder is claimed: a --start the catalogue has no devices for is a usage error
        gen = Generator(sc, config=config, start=first, days=n_days, table_format=table_format)
    except OptionError as e:
        if start:
            raise OptionError(f"{start_is}: {e}") from None
        # The scenario's own date: its problem, as validate names it (the command line is fine).
        file = shown_file(sc.path) if sc.path else sc.name
        raise ScenarioError([ScenarioProblem(file, "time.start", str(e))]) from None
    out_dir = Path(out)
    claim_folder(out_dir, "--out")
    suffix = ".gz" if gzip_output else ""
    n = len(gen.population)
    low, high = (0, n) if shard is None else shard_range(n, *shard)
    head = _head(gen, sc, ref=ref, start=first, days=n_days, table_format=table_format, suffix=suffix)
    workers = max(1, min(jobs or usable_cpus(), high - low))
    tmp = _runs_folder(out_dir)
    try:
        bar.phase("devices", high - low)
        if workers == 1:
            runs = Runs(tmp)
            parts = [tmp / "devices-000.csv"]
            with parts[0].open("wb") as dev_out:
                play(gen, low, high, runs, dev_out, chunk_records, bar.update)
            gen.finish()
        else:
            block = Block(
                scenario=sc,
                config=config,
                start=first,
                days=n_days,
                table_format=table_format,
                index=0,
                count=workers,
                low=low,
                high=high,
                directory=tmp,
                chunk_records=chunk_records,
            )
            runs, parts = play_parallel(gen, block, bar)
        bar.close()
        if shard is not None:
            # A shard keeps its records sorted (one run) and its devices' rows for --merge to finish.
            staging = tmp / "out"
            staging.mkdir()
            write_shard(
                staging,
                runs,
                parts,
                head=head,
                stats=gen.stats,
                index=shard[0],
                count=shard[1],
                low=low,
                high=high,
                devices=n,
                fingerprint=scenario_fingerprint(sc),
            )
            publish(staging, out_dir, last=SHARD_MANIFEST)
            return {**head, "shard": {"index": shard[0], "count": shard[1], "low": low, "high": high}}
        return finish_dataset(out_dir, tmp, runs, parts, head=head, stats=gen.stats, progress=bar)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_memory(devices: int, devices_is: str, where: str) -> None:
    """Refuse a population this process cannot hold before building it: past the machine's memory the
    OOM killer ends the build minutes in, with no word."""
    room = headroom()
    need = devices * BUILD_BYTES_PER_DEVICE
    if room is not None and need > room.free:
        raise OptionError(
            f"{devices_is} {devices:,}{where} needs about {_gib(need)} to build its population "
            f"({BUILD_BYTES_PER_DEVICE} bytes a device, in each --shard too: a shard builds all of it), "
            f"and {room.limit} leaves this process about {_gib(room.free)}: "
            "generate fewer devices, or where there is more memory"
        )


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def _scenario_ref(sc: Scenario) -> str:
    """What replay loads the scenario by: a bundled one's name (the same in any install), else its
    file's whole path (a name relative to where generate ran is another file, or none, elsewhere)."""
    if sc.path is None:
        return sc.name
    return sc.path.stem if sc.path.parent == scenario_dir() else str(sc.path.resolve())


#: Written first into every folder a dataset or a shard is generated into: the folder is the
#: generator's to write again. The names it writes (README.md, events.csv) are common ones, and it
#: deletes the tables of the other formats, so a folder of someone else's files is refused.
DATASET_MARK = ".loadsim-dataset"


def claim_folder(out_dir: Path, flag: str) -> None:
    """Make ``out_dir`` a dataset's folder: refused (OptionError, nothing changed) if it holds files
    and is not one already (marked, or a summary.json or shard.json from before the mark)."""
    if out_dir.is_dir():
        # The generator's own temporary runs (a killed run's are removed by _runs_folder) are not files.
        names = sorted(p.name for p in out_dir.iterdir() if not _own_runs(p))
        if names and not (DATASET_MARK in names or _written_before_the_mark(out_dir)):
            shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
            raise OptionError(
                f"{flag} {out_dir} holds files and is not a dataset folder ({shown}): generate into a new or "
                "empty folder, or one a dataset was generated into; nothing was written"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / DATASET_MARK).write_text("A folder loadsim generate writes into (and may overwrite).\n")


def _written_before_the_mark(out_dir: Path) -> bool:
    """A dataset's summary.json or a shard's shard.json from before the mark: not any summary.json (a
    load test's report folder has one)."""
    for name, key in (("summary.json", "dataset"), (SHARD_MANIFEST, "kind")):
        try:
            document = orjson.loads((out_dir / name).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        if isinstance(document, dict) and key in document:
            return True
    return False


#: Written first into each temporary folder of runs: the folder is the generator's, to remove (a
#: ``.runs-`` name alone could be the user's).
RUNS_MARK = ".loadsim-runs"
#: A folder of runs being made: marked under this name, then renamed to its ``.runs-`` name, so that
#: no moment (a SIGKILL can come at any) shows a ``.runs-`` folder without its mark.
RUNS_MAKING = ".loadsim-making-runs-"


def _own_runs(path: Path) -> bool:
    return path.name.startswith(".runs-") and (path / RUNS_MARK).is_file()


def _runs_folder(out_dir: Path) -> Path:
    """A fresh folder for the sorted runs, in ``out_dir`` (same disk: the runs are about the dataset's size).

    One an earlier run left (killed: SIGKILL, a lost node) is removed first, or it would stay forever."""
    for stale in out_dir.glob(".runs-*"):
        if _own_runs(stale):
            shutil.rmtree(stale, ignore_errors=True)
    for stale in out_dir.glob(RUNS_MAKING + "*"):
        # Killed while made, it holds its mark at most: anything else in it is not the generator's.
        if {p.name for p in stale.iterdir()} <= {RUNS_MARK}:
            shutil.rmtree(stale, ignore_errors=True)
    for _ in range(100):  # as mkdtemp tries names: bounded
        making = Path(tempfile.mkdtemp(prefix=RUNS_MAKING, dir=out_dir))
        (making / RUNS_MARK).write_bytes(b"")
        tmp = out_dir / (".runs-" + making.name.removeprefix(RUNS_MAKING))
        if not tmp.exists():  # a rename onto an empty folder of the user's would replace it
            making.rename(tmp)
            return tmp
        shutil.rmtree(making)
    raise FileExistsError(f"no free name for the temporary runs in {out_dir}")


def finish_dataset(
    out_dir: Path,
    tmp: Path,
    runs: Runs,
    parts: list[Path],
    *,
    head: dict[str, Any],
    stats: Stats,
    progress: Progress,
) -> dict[str, Any]:
    """The dataset's files from its sorted runs and its devices' rows (``parts``, in device order):
    what one run, ``--jobs`` and ``--merge`` all end with, so they write the same bytes.

    Written in ``tmp`` (the run's temporary folder, which its caller removes), then moved into
    ``out_dir``: a full disk, a damaged shard or Ctrl-C on the way leaves a dataset already there
    whole, and nothing half-written beside it."""
    staging = tmp / "out"
    staging.mkdir()
    summary = _finish_dataset(staging, runs, parts, head=head, stats=stats, progress=progress)
    publish(staging, out_dir, last="summary.json")
    return summary


#: Every file a dataset of any format or a shard writes, by name (summary.json and shard.json aside):
#: the generator's own, in a folder it claimed, so what the new one does not write goes.
_LAYOUT_FILES = (
    frozenset(
        name
        for table in ("events", "devices")
        for name in (f"{table}.csv", f"{table}.csv.gz", f"{table}.jsonl", f"{table}.jsonl.gz", f"{table}.parquet")
    )
    | frozenset(f"requests/{ep}.jsonl{gz}" for ep in ENDPOINT_NAMES for gz in ("", ".gz"))
    | {SHARD_RECORDS, SHARD_DEVICES}
)


def publish(staging: Path, out_dir: Path, *, last: str) -> None:
    """Move what ``staging`` holds into ``out_dir``, ``last`` (the file that says it is finished) last.

    Renames on one disk, so this takes a moment, whatever the size. Before the first, the markers of
    what the folder held (summary.json, shard.json) go, so that a crash in that moment leaves no file
    vouching for a mix; and the tables of another format go, where a reader (DuckDB's
    read_csv('events.csv')) would take them for this dataset's."""
    new = {p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()}
    # A README.md is a dataset's own only where a dataset was (a shard's folder may hold the user's).
    readme = {"README.md"} if (out_dir / "summary.json").is_file() else set()
    for name in ("summary.json", SHARD_MANIFEST, *((_LAYOUT_FILES | readme) - new)):
        (out_dir / name).unlink(missing_ok=True)
    requests = out_dir / "requests"
    if requests.is_dir() and not any(requests.iterdir()):  # a dataset's, where a shard now is
        requests.rmdir()
    for name in [*sorted(new - {last}), last]:
        (out_dir / name).parent.mkdir(exist_ok=True)
        os.replace(staging / name, out_dir / name)


def _finish_dataset(
    out_dir: Path, runs: Runs, parts: list[Path], *, head: dict[str, Any], stats: Stats, progress: Progress
) -> dict[str, Any]:
    d = head["dataset"]
    table_format, gzip_output = d["table_format"], d["gzip"]
    suffix = ".gz" if gzip_output else ""
    (out_dir / "requests").mkdir()
    # Devices are played (and written) as CSV; Parquet and JSONL datasets get theirs converted.
    devices_path = out_dir / (f"devices.csv{suffix}" if table_format == "csv" else ".devices.csv")
    with open_out(devices_path, gzip_output and table_format == "csv") as dev_out:
        dev_out.write(csv_line(DEVICE_COLUMNS))
        for part in parts:  # device order, as one process writes them
            with part.open("rb") as f:
                shutil.copyfileobj(f, dev_out, 1 << 20)
    total = sum(stats.requests.values())
    progress.phase("writing", total)
    write_files(out_dir, runs.merged(), table_format=table_format, suffix=suffix, gz=gzip_output, progress=progress)
    progress.close()
    if table_format == "parquet":
        _csv_to_parquet(devices_path, out_dir / "devices.parquet", DEVICE_COLUMNS)
        devices_path.unlink()
    elif table_format == "jsonl":
        _csv_to_jsonl(devices_path, out_dir / f"devices.jsonl{suffix}", DEVICE_INT_COLUMNS, gz=gzip_output)
        devices_path.unlink()
    summary = _summary(head, stats)
    (out_dir / "README.md").write_text(_readme(summary), encoding="utf-8")
    # Last: summary.json says the dataset is finished.
    (out_dir / "summary.json").write_bytes(
        orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    return summary


def merge(
    out: str | Path, shards: list[str | Path], *, progress: bool | None = None, quiet: bool = False
) -> dict[str, Any]:
    """Join the folders ``generate(shard=...)`` wrote into ``out``: the dataset one run writes, byte
    for byte, and its summary. The shards are checked first (simulator.dataset.shards.read_shards);
    they are read, never changed."""
    out_dir = Path(out)
    dirs = [Path(d) for d in shards]
    head, checked = read_shards(dirs)
    if any(out_dir.resolve() == d.resolve() for d in dirs):
        raise DatasetError(
            f"--merge: the output folder {out_dir} is one of the shard folders: give a folder of its own"
        )
    bar = Progress((sys.stderr.isatty() if progress is None else progress) and not quiet)
    claim_folder(out_dir, "--merge")
    stats = Stats(int(head["dataset"]["days"]))
    for shard in checked:
        stats.merge(shard.stats)
    tmp = _runs_folder(out_dir)
    try:
        runs = Runs(tmp)
        runs.files = [s.records for s in checked]
        runs.keep = set(runs.files)  # the shards' own files: read, never deleted
        try:
            parts = [s.device_rows for s in checked]
            return finish_dataset(out_dir, tmp, runs, parts, head=head, stats=stats, progress=bar)
        except RunError as exc:
            # Sizes matched, contents did not: found while writing the staged files, before any was moved.
            raise DatasetError(
                f"--merge: a shard's {SHARD_RECORDS} cannot be read ({exc}); nothing was written to "
                f"{out_dir}: copy the shard folders again, or generate the shards again"
            ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_files(
    out_dir: Path, batches: Iterator[Batch], *, table_format: str, suffix: str, gz: bool, progress: Progress
) -> None:
    files = [open_out(out_dir / "requests" / f"{ep}.jsonl{suffix}", gz) for ep in ENDPOINT_NAMES]
    table_path = out_dir / (f"events.{table_format}{suffix}" if table_format != "parquet" else ".events.csv")
    table = open_out(table_path, gz and table_format != "parquet")
    try:
        if table_format != "jsonl":
            table.write(csv_line(TABLE_COLUMNS))
        # The merge hands the lines out without their newlines: each file gets a join, in C, of
        # several batches' lines (a few thousand: fewer, larger writes).
        outs = (*files, table)
        pending: list[list[bytes]] = [[] for _ in outs]
        done = held = 0
        for batch in batches:
            bodies, rows = batch.files(len(files))
            for lines, more in zip(pending, (*bodies, rows), strict=True):
                lines += more
            held += len(batch)
            if held >= _FLUSH_RECORDS:
                _flush(outs, pending)
                done, held = done + held, 0
                progress.update(done)
        _flush(outs, pending)
        progress.update(done + held)
    finally:
        for f in (*files, table):
            f.close()
    if table_format == "parquet":
        _csv_to_parquet(table_path, out_dir / "events.parquet", TABLE_COLUMNS)
        table_path.unlink()


#: Records whose lines write_files gathers before it writes them.
_FLUSH_RECORDS = 4096


def _flush(outs: tuple[IO[bytes], ...], pending: list[list[bytes]]) -> None:
    for f, lines in zip(outs, pending, strict=True):
        if lines:
            lines.append(b"")  # the last line's newline
            f.write(b"\n".join(lines))
            lines.clear()


def parquet_type(column: str) -> Any:
    """The Parquet (Arrow) type of a column of the events or devices table, for notebooks: instants
    as UTC timestamps, the wall clock as a zone-less timestamp, small vocabularies as categories."""
    import pyarrow as pa

    if column in UTC_COLUMNS:
        return pa.timestamp("ms", tz="UTC")
    if column in WALL_CLOCK_COLUMNS:
        return pa.timestamp("ms")
    if column in INT_COLUMNS or column in DEVICE_INT_COLUMNS:
        return pa.int64()
    if column in BOOL_COLUMNS:
        return pa.bool_()
    if column in FLOAT_COLUMNS:
        return pa.float64()
    if column in CATEGORY_COLUMNS:
        return pa.dictionary(pa.int32(), pa.string())
    return pa.string()


def _csv_to_parquet(src: Path, dst: Path, columns: tuple[str, ...]) -> None:
    """A CSV table as Parquet, streamed in batches (pyarrow), typed columns."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    types: dict[str, Any] = {c: parquet_type(c) for c in columns}
    convert = pacsv.ConvertOptions(
        column_types=types,
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["1"],
        false_values=["0"],
        include_columns=list(columns),
    )
    reader = pacsv.open_csv(src, convert_options=convert, read_options=pacsv.ReadOptions(block_size=1 << 22))
    schema = pa.schema([(c, types[c]) for c in columns])
    with pq.ParquetWriter(dst, schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)


def _csv_to_jsonl(src: Path, dst: Path, ints: frozenset[str], *, gz: bool) -> None:
    """A CSV table as JSON lines: numbers for the integer columns, null for an empty field."""
    import csv

    with src.open(encoding="utf-8", newline="") as f, open_out(dst, gz) as out:
        for row in csv.DictReader(f):
            out.write(
                orjson.dumps(
                    {k: (int(v) if k in ints else v) if v != "" else None for k, v in row.items()},
                    option=orjson.OPT_APPEND_NEWLINE,
                )
            )


def _head(
    gen: Generator, sc: Scenario, *, ref: str, start: datetime.date, days: int, table_format: str, suffix: str
) -> dict[str, Any]:
    """What the summary says that does not come from the devices played: the scenario, the options,
    the calendar and the funnel's steps. Plain JSON, so a shard carries it to ``--merge``."""
    cal = gen.calendar
    table = f"events.{table_format}" + (suffix if table_format != "parquet" else "")
    return {
        "dataset": {
            "format_version": FORMAT_VERSION,
            "engine_version": ENGINE_VERSION,
            "scenario": sc.name,
            "scenario_ref": ref,
            "seed": sc.seed,
            "app_id": sc.app.app_id,
            "start": start.isoformat(),
            "days": days,
            "table_format": table_format,
            "gzip": bool(suffix),
            "files": {
                "requests": {ep: f"requests/{ep}.jsonl{suffix}" for ep in ENDPOINT_NAMES},
                "events_table": table,
                "devices_table": {"csv": f"devices.csv{suffix}", "parquet": "devices.parquet"}.get(
                    table_format, f"devices.jsonl{suffix}"
                ),
            },
            "campaigns": {str(d + 1): name for d, name in enumerate(cal.campaign_names) if name},
            "purchase_events": sorted(gen.purchase_names),
        },
        "funnel_names": list(gen.funnel_names),
        "funnel_present": list(gen.funnel_present),
        "dates": list(cal.dates),
        "campaign_names": list(cal.campaign_names),
    }


def _summary(head: dict[str, Any], s: Stats) -> dict[str, Any]:
    days = head["dataset"]["days"]
    dates, campaign_names = head["dates"], head["campaign_names"]
    return {
        "dataset": head["dataset"],
        "devices": {
            "total": s.devices,
            "active": s.active_devices,
            "with_faulty_requests": s.faulty_devices,
            "churned": s.churned,
        },
        "sessions": s.sessions,
        "accepted_sessions": s.accepted_sessions,
        "requests": {**s.requests, "total": sum(s.requests.values()), "faulty": s.faulty_requests},
        "events_by_name": dict(sorted(s.events_by_name.items())),
        "funnel": conversion_table(head["funnel_names"], head["funnel_present"], s.funnel, s.accepted_sessions),
        "revenue_by_currency": {
            c: {"orders": int(v[0]), "revenue": round(float(v[1]), 2)} for c, v in sorted(s.revenue.items())
        },
        "daily_active_devices": list(s.daily_active),
        "daily": [
            {
                "day": d + 1,
                "date": dates[d],
                "campaign": campaign_names[d] or None,
                "active_devices": s.daily_active[d],
                "installs": s.daily_installs[d],
                "sessions": s.daily_sessions[d],
                "requests": s.daily_requests[d],
                "purchases": s.daily_purchases[d],
            }
            for d in range(days)
        ],
        "session_starts_by_local_hour": list(s.local_hour_starts),
    }


def _duckdb_section(summary: dict[str, Any]) -> list[str]:
    """Two questions a notebook asks first, as DuckDB one-liners run in the dataset's folder."""
    d = summary["dataset"]
    path = d["files"]["events_table"]
    source = {
        "parquet": f"read_parquet('{path}')",
        "csv": f"read_csv('{path}')",
        "jsonl": f"read_json('{path}', format = 'newline_delimited')",
    }[d["table_format"]]
    purchases = ", ".join(_sql_text(n) for n in d.get("purchase_events", [])) or "''"
    steps = [step["step"] for step in summary["funnel"]]
    funnel = ", ".join(
        f"count(DISTINCT session_id) FILTER (WHERE event_name = {_sql_text(s)}) AS {_sql_name(s)}" for s in steps
    )
    revenue = (
        "SELECT CAST(local_time AS DATE) AS local_date, count(*) AS orders, round(sum(value_usd), 2) AS revenue_usd "
        f"FROM {source} WHERE event_name IN ({purchases}) AND NOT CAST(faulty AS BOOLEAN) "
        "GROUP BY local_date ORDER BY local_date"
    )
    by_platform = (
        f"SELECT platform, count(DISTINCT session_id) AS sessions{', ' + funnel if funnel else ''} "
        f"FROM {source} WHERE NOT CAST(faulty AS BOOLEAN) GROUP BY platform ORDER BY platform"
    )
    return [
        "## Questions, in one line",
        "",
        "With [DuckDB](https://duckdb.org) (`pip install duckdb`, or `pip install 'loadsim[duckdb]'`), from this "
        "folder. Revenue by day (the devices' local calendar day, in US dollars), then by platform the sessions "
        "with each funnel step's event, in any order (`summary.json`'s funnel counts a step only after the "
        "step before it, so where a faulty SDK spoiled a step these counts are the higher):",
        "",
        "```sh",
        f'duckdb -c "{revenue}"',
        f'duckdb -c "{by_platform}"',
        "```",
        "",
        'In Python: `duckdb.sql("...").df()`; pandas reads the Parquet table as is '
        "(`pandas.read_parquet`), timestamps and categories included.",
        "",
    ]


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_name(text: str) -> str:
    """A step's name as a column name: lower case, words joined by _ (``Add to Cart`` -> add_to_cart)."""
    return "_".join("".join(c if c.isalnum() else " " for c in text.lower()).split()) or "step"


def _readme(summary: dict[str, Any]) -> str:
    d = summary["dataset"]
    files = d["files"]
    req = summary["requests"]
    lines = [
        f"# Synthetic dataset: {d['scenario']}",
        "",
        f"Generated by `loadsim generate {d['scenario_ref']} --users {summary['devices']['total']} "
        f"--seed {d['seed']} --days {d['days']} --start {d['start']}"
        + (f" --format {d['table_format']}" if d["table_format"] != "csv" else "")
        + (" --gzip" if d["gzip"] else "")
        + f"` (loadsim dataset format {d['format_version']}). Every person, device, email "
        "and phone number is synthetic: emails on reserved domains, phones from ranges reserved for fiction.",
        "",
        f"- {summary['devices']['total']:,} devices ({summary['devices']['active']:,} active), "
        f"{summary['sessions']:,} sessions, {req['total']:,} requests "
        f"({req['faulty']:,} deliberately malformed by faulty SDKs), over {d['days']} days from {d['start']} "
        "(local midnight in each device's time zone).",
        f"- App id `{d['app_id']}`."
        + (
            " Campaign days: " + ", ".join(f"day {k} ({v})" for k, v in d["campaigns"].items()) + "."
            if d["campaigns"]
            else ""
        ),
        "",
        "## Files",
        "",
        "| file | what |",
        "|---|---|",
    ]
    for ep, path in files["requests"].items():
        lines.append(
            f"| `{path}` | `{ep}` request bodies exactly as the app sends them, one JSON per line, "
            f"in `added_at` order ({req[ep]:,}) |"
        )
    lines += [
        f"| `{files['events_table']}` | one flat row per request, the same order (columns below) |",
        f"| `{files['devices_table']}` | one row per device: platform, country, time zone, model, install "
        "time, sessions, requests, purchases, WebView user agent |",
        "| `summary.json` | counts: devices, sessions (`accepted_sessions`: those whose start is a healthy request, "
        "the funnel's first stage), events by name, funnel conversion, revenue by currency, "
        "daily active devices, session starts by local hour |",
        "",
        "## The events table",
        "",
        "`time` is `added_at` in UTC; `local_time` the device's wall clock; `day` the simulated day (1 = first) "
        "in the device's calendar; `device` the device number (as in the devices table); `user_id` and "
        "`session_id` the body's `uid` and `sid`; `value`, `currency`, `transaction_id`, `items`, `coupon` "
        "from e-commerce events; `utm_*` from ad-click sessions; `identified` whether the body carries "
        "`identify_by`; `campaign` the campaign of that day; `faulty` and `fault` mark a faulty SDK's "
        "malformed body (the API answers it 400). `value_usd` is `value` in US dollars at the catalogue's "
        "rates (loadsim's `simulator/catalog/usd_rates.csv`: approximate early-2024 market rates, the ones "
        "the USD catalogue was priced with), so revenue adds up across currencies.",
        "",
        "Columns: " + ", ".join(f"`{c}`" for c in TABLE_COLUMNS) + ".",
        "",
        *_duckdb_section(summary),
        "## Replay",
        "",
        "`loadsim replay DIR` sends these requests to the mock collector (or `--host URL`) in order per device, "
        "`--speed 60` playing one simulated hour per minute (`--speed 0`: as fast as possible), `--restamp` "
        "moving `added_at` to the send time; it writes a report like `loadsim run`.",
        "",
    ]
    return "\n".join(lines)
