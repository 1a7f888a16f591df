"""Reading a dataset back (``loadsim replay``): its summary and its requests in order, without the writer."""

from __future__ import annotations

import datetime
import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from simulator.dataset.layout import ENDPOINTS, FORMAT_VERSION, DatasetError
from simulator.journey import Request
from simulator.payloads import CONTENT_TYPE

__all__ = ["DatasetRecord", "read_dataset", "read_summary"]


def open_in(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")  # type: ignore[return-value]


def read_summary(directory: str | Path) -> dict[str, Any]:
    """A dataset's ``summary.json``; DatasetError says what is wrong with the directory."""
    path = Path(directory) / "summary.json"
    try:
        summary: dict[str, Any] = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise DatasetError(
            f"{directory} is not a loadsim dataset (no summary.json): make one with loadsim generate SCENARIO --out DIR"
        ) from None
    except orjson.JSONDecodeError as e:
        raise DatasetError(f"{path} is not valid JSON ({e}): generate the dataset again") from None
    version = summary.get("dataset", {}).get("format_version")
    if version != FORMAT_VERSION:
        raise DatasetError(
            f"{directory}: dataset format {version!r}, this loadsim reads {FORMAT_VERSION}: generate it again"
        )
    return summary


@dataclass(slots=True)
class DatasetRecord:
    """One request of a dataset, as read back: its send time, device, and the Request to post."""

    time: float
    device: int
    request: Request
    #: The body exactly as written (one JSONL line without its newline).
    data: bytes


def _table_rows(directory: Path, table: str) -> Iterator[dict[str, Any]]:
    path = directory / table
    if table.endswith(".parquet"):
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(
            columns=["time", "endpoint", "step", "device", "session_number", "faulty", "fault"]
        ):
            yield from batch.to_pylist()
        return
    with open_in(path) as raw:
        if ".jsonl" in table:
            for line in raw:
                yield orjson.loads(line)
            return
        import csv

        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        for row in reader:
            yield {
                "time": row["time"],
                "endpoint": row["endpoint"],
                "step": row["step"],
                "device": int(row["device"]),
                "session_number": int(row["session_number"]),
                "faulty": row["faulty"] == "1",
                "fault": row["fault"] or None,
            }


def _epoch(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def read_dataset(directory: str | Path, *, devices: Callable[[int], bool] | None = None) -> Iterator[DatasetRecord]:
    """Every request of a dataset in ``added_at`` order (optionally only devices where ``devices(d)``).

    Streams: the table and the three request files are read in step; only the devices' user
    agents (for the headers) are held in memory.
    """
    directory = Path(directory)
    summary = read_summary(directory)
    files = summary["dataset"]["files"]
    agents: dict[int, dict[str, str]] = {}
    import csv

    with open_in(directory / files["devices_table"]) as raw:
        for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline="")):
            d = int(row["device"])
            if devices is None or devices(d):
                agents[d] = {"Content-Type": CONTENT_TYPE, "CL-User-Agent": row["user_agent"]}
    streams = [open_in(directory / files["requests"][ep]) for ep in ENDPOINTS]
    index = {ep: k for k, ep in enumerate(ENDPOINTS)}
    last_time = ""
    last_epoch = 0.0
    try:
        for row in _table_rows(directory, files["events_table"]):
            ep = row["endpoint"]
            line = streams[index[ep]].readline()
            if not line:
                raise DatasetError(
                    f"{directory}: requests/{ep} ends before the events table does: "
                    "the dataset is truncated; generate it again"
                )
            device = int(row["device"])
            if devices is not None and not devices(device):
                continue
            if row["time"] != last_time:
                last_time, last_epoch = row["time"], _epoch(row["time"])
            data = line.rstrip(b"\n")
            body = orjson.loads(data)
            req = Request(
                ep,
                row["step"],
                body,
                last_epoch,
                agents.get(device, {"Content-Type": CONTENT_TYPE}),
                bool(row["faulty"]),
                row["fault"] or None,
                int(row["session_number"]) - 1,
            )
            yield DatasetRecord(last_epoch, device, req, data)
    finally:
        for s in streams:
            s.close()
