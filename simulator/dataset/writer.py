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
from typing import IO, Any

import orjson

from simulator.dataset.layout import (
    BOOL_COLUMNS,
    DEVICE_COLUMNS,
    ENDPOINTS,
    FORMAT_VERSION,
    FORMATS,
    INT_COLUMNS,
    TABLE_COLUMNS,
    DatasetError,
)
from simulator.dataset.parallel import Block, play, play_parallel
from simulator.dataset.progress import Progress
from simulator.dataset.rows import Generator, csv_line
from simulator.dataset.runs import CHUNK_RECORDS, LEN_MASK, Record, Runs
from simulator.dataset.stats import conversion_table
from simulator.scenario import Scenario, load_scenario

__all__ = ["generate"]


class _GzipOut(gzip.GzipFile):
    """A gzip file that also closes the file under it (``GzipFile(fileobj=...)`` leaves it open)."""

    def close(self) -> None:
        raw = self.fileobj
        try:
            super().close()
        finally:
            if raw is not None:
                raw.close()


def open_out(path: Path, gz: bool) -> IO[bytes]:
    raw = path.open("wb")
    if not gz:
        return raw
    # No file name and mtime 0 in the header: the same dataset gives the same bytes.
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
) -> dict[str, Any]:
    """Write a dataset to ``out`` and return its summary (also ``out/summary.json``).

    ``users``, ``days``, ``start`` and ``seed`` override the scenario's population size, ``[time]``
    days and start date, and seed. ``progress`` defaults to "stderr is a terminal and not quiet".
    ``jobs`` processes play the devices (0: one per core); the files are the same for any ``jobs``.
    """
    if jobs < 0:
        raise DatasetError(f"--jobs must be 0 (one process per core) or a number of processes, got {jobs}")
    if table_format not in FORMATS:
        raise DatasetError(f"--format must be one of {', '.join(FORMATS)}, got {table_format!r}")
    if table_format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise DatasetError(
                "--format parquet needs pyarrow: pip install 'loadsim[parquet]' "
                "(or pip install pyarrow), or use --format csv"
            ) from None
    if isinstance(scenario, Scenario):
        sc = scenario
        ref = str(sc.path) if sc.path else sc.name
    else:
        sc = load_scenario(scenario)
        ref = str(scenario) if not str(scenario).endswith(".toml") else str(Path(scenario).resolve())
    changes: dict[str, Any] = {}
    if seed is not None:
        if not 0 <= seed < 2**31:
            raise DatasetError(f"--seed must be from 0 to 2147483647, got {seed}")
        changes["seed"] = seed
    if users is not None:
        if users < 1:
            raise DatasetError(f"--users must be at least 1, got {users}")
        changes["population"] = dataclasses.replace(sc.population, devices=users)
    if changes:
        sc = dataclasses.replace(sc, **changes)
    config = sc.time
    n_days = config.days if days is None else days
    if n_days < 1:
        raise DatasetError(f"--days must be at least 1, got {n_days}")
    try:
        first = (
            (start if isinstance(start, datetime.date) else datetime.date.fromisoformat(start))
            if start
            else config.start_date()
        )
    except ValueError:
        raise DatasetError(f"--start must be an ISO date such as 2026-01-05, got {start!r}") from None
    late = [c for c in config.campaigns if c.day > n_days]
    if late:
        sys.stderr.write(
            f"loadsim: note: campaign day(s) {', '.join(str(c.day) for c in late)} fall after the "
            f"{n_days} simulated day(s) and are left out\n"
        )
    show = (sys.stderr.isatty() if progress is None else progress) and not quiet
    bar = Progress(show)

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    # summary.json marks a finished dataset (read_summary): one from an earlier run must not vouch
    # for files this run may leave half-written if it fails.
    (out_dir / "summary.json").unlink(missing_ok=True)
    (out_dir / "requests").mkdir(exist_ok=True)
    suffix = ".gz" if gzip_output else ""
    gen = Generator(sc, config=config, start=first, days=n_days, table_format=table_format)
    n = len(gen.population)
    workers = min(jobs or os.cpu_count() or 1, n)
    tmp = Path(tempfile.mkdtemp(prefix=".runs-", dir=out_dir))
    try:
        bar.phase("devices", n)
        devices_path = out_dir / f"devices.csv{suffix}"
        if workers == 1:
            runs = Runs(tmp)
            with open_out(devices_path, gzip_output) as dev_out:
                dev_out.write(csv_line(DEVICE_COLUMNS))
                play(gen, 0, n, runs, dev_out, chunk_records, bar.update)
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
                low=0,
                high=n,
                directory=tmp,
                chunk_records=chunk_records,
            )
            runs, parts = play_parallel(gen, block, bar)
            # The devices' rows, block after block: device order, as one process writes them.
            with open_out(devices_path, gzip_output) as dev_out:
                dev_out.write(csv_line(DEVICE_COLUMNS))
                for part in parts:
                    with part.open("rb") as f:
                        shutil.copyfileobj(f, dev_out, 1 << 20)
                    part.unlink()
        bar.close()
        total = sum(gen.stats.requests.values())
        bar.phase("writing", total)
        write_files(out_dir, runs.merged(), table_format=table_format, suffix=suffix, gz=gzip_output, progress=bar)
        bar.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = _summary(gen, sc, ref=ref, start=first, days=n_days, table_format=table_format, suffix=suffix)
    (out_dir / "summary.json").write_bytes(
        orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    (out_dir / "README.md").write_text(_readme(summary), encoding="utf-8")
    return summary


def write_files(
    out_dir: Path, blocks: Iterator[list[Record]], *, table_format: str, suffix: str, gz: bool, progress: Progress
) -> None:
    files = [open_out(out_dir / "requests" / f"{ep}.jsonl{suffix}", gz) for ep in ENDPOINTS]
    table_path = out_dir / (f"events.{table_format}{suffix}" if table_format != "parquet" else ".events.csv")
    table = open_out(table_path, gz and table_format != "parquet")
    try:
        if table_format != "jsonl":
            table.write(csv_line(TABLE_COLUMNS))
        # Gathered and written a few thousand at a time: a list append is a fifth of a file write.
        bodies: list[list[bytes]] = [[] for _ in files]
        rows: list[bytes] = []
        mask = LEN_MASK
        done = 0
        for block in blocks:
            for key, data in block:
                n = key >> 2 & mask
                bodies[key & 3].append(data[:n])
                rows.append(data[n:])
                if len(rows) >= 4096:
                    done += _flush(files, bodies, table, rows)
                    progress.update(done)
        _flush(files, bodies, table, rows)
    finally:
        for f in (*files, table):
            f.close()
    if table_format == "parquet":
        _csv_to_parquet(table_path, out_dir / "events.parquet")
        table_path.unlink()


def _flush(files: list[IO[bytes]], bodies: list[list[bytes]], table: IO[bytes], rows: list[bytes]) -> int:
    for f, lines in zip(files, bodies, strict=True):
        if lines:
            f.write(b"".join(lines))
            lines.clear()
    table.write(b"".join(rows))
    n = len(rows)
    rows.clear()
    return n


def _csv_to_parquet(src: Path, dst: Path) -> None:
    """The CSV table as Parquet, streamed in batches (pyarrow), typed columns."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    types: dict[str, Any] = {c: pa.string() for c in TABLE_COLUMNS}
    types.update({c: pa.int64() for c in INT_COLUMNS})
    types.update({c: pa.bool_() for c in BOOL_COLUMNS})
    types["value"] = pa.float64()
    convert = pacsv.ConvertOptions(
        column_types=types,
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["1"],
        false_values=["0"],
        include_columns=list(TABLE_COLUMNS),
    )
    reader = pacsv.open_csv(src, convert_options=convert, read_options=pacsv.ReadOptions(block_size=1 << 22))
    schema = pa.schema([(c, types[c]) for c in TABLE_COLUMNS])
    with pq.ParquetWriter(dst, schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)


def _summary(
    gen: Generator, sc: Scenario, *, ref: str, start: datetime.date, days: int, table_format: str, suffix: str
) -> dict[str, Any]:
    s, cal = gen.stats, gen.calendar
    table = f"events.{table_format}" + (suffix if table_format != "parquet" else "")
    return {
        "dataset": {
            "format_version": FORMAT_VERSION,
            "scenario": sc.name,
            "scenario_ref": ref,
            "seed": sc.seed,
            "app_id": sc.app.app_id,
            "start": start.isoformat(),
            "days": days,
            "table_format": table_format,
            "gzip": bool(suffix),
            "files": {
                "requests": {ep: f"requests/{ep}.jsonl{suffix}" for ep in ENDPOINTS},
                "events_table": table,
                "devices_table": f"devices.csv{suffix}",
            },
            "campaigns": {str(d + 1): name for d, name in enumerate(cal.campaign_names) if name},
        },
        "devices": {
            "total": s.devices,
            "active": s.active_devices,
            "with_faulty_requests": s.faulty_devices,
            "churned": s.churned,
        },
        "sessions": s.sessions,
        "requests": {**s.requests, "total": sum(s.requests.values()), "faulty": s.faulty_requests},
        "events_by_name": dict(sorted(s.events_by_name.items())),
        "funnel": conversion_table(gen.funnel_names, gen.funnel_present, s.funnel, s.sessions),
        "revenue_by_currency": {
            c: {"orders": int(v[0]), "revenue": round(float(v[1]), 2)} for c, v in sorted(s.revenue.items())
        },
        "daily_active_devices": list(s.daily_active),
        "daily": [
            {
                "day": d + 1,
                "date": cal.dates[d],
                "campaign": cal.campaign_names[d] or None,
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


def _readme(summary: dict[str, Any]) -> str:
    d = summary["dataset"]
    files = d["files"]
    req = summary["requests"]
    lines = [
        f"# Synthetic dataset: {d['scenario']}",
        "",
        f"Generated by `loadsim generate {d['scenario_ref']} --seed {d['seed']} --days {d['days']} "
        f"--start {d['start']}` (loadsim dataset format {d['format_version']}). Every person, device, email "
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
        "| `summary.json` | counts: devices, sessions, events by name, funnel conversion, revenue by currency, "
        "daily active devices, session starts by local hour |",
        "",
        "## The events table",
        "",
        "`time` is `added_at` in UTC; `local_time` the device's wall clock; `day` the simulated day (1 = first) "
        "in the device's calendar; `device` the device number (as in the devices table); `user_id` and "
        "`session_id` the body's `uid` and `sid`; `value`, `currency`, `transaction_id`, `items`, `coupon` "
        "from e-commerce events; `utm_*` from ad-click sessions; `identified` whether the body carries "
        "`identify_by`; `campaign` the campaign of that day; `faulty` and `fault` mark a faulty SDK's "
        "malformed body (the API answers it 400).",
        "",
        "Columns: " + ", ".join(f"`{c}`" for c in TABLE_COLUMNS) + ".",
        "",
        "## Replay",
        "",
        "`loadsim replay DIR` sends these requests to the mock collector (or `--host URL`) in order per device, "
        "`--speed 60` playing one simulated hour per minute (`--speed 0`: as fast as possible), `--restamp` "
        "moving `added_at` to the send time; it writes a report like `loadsim run`.",
        "",
    ]
    return "\n".join(lines)
