"""``--shard I/N`` and ``--merge``: one dataset generated on many machines, joined to the same bytes.

Shard ``I`` of ``N`` plays the contiguous devices ``[n*I//N, n*(I+1)//N)`` (the ``--jobs`` blocks'
and the distributed load test's slicing), each device from its own seeded streams, so a device's
records do not depend on which shard played it. A shard folder holds what a ``--jobs`` worker
hands its parent, kept on disk:

- ``records.run``: the shard's records in key order, one sorted run (``runs.write_run``: raw
  numbers and bytes, read back checked, never unpickled);
- ``devices.part.csv``: its devices' rows, in device order, without the header;
- ``shard.json``, written last (so a folder without it is a shard that did not finish): which
  shard, the scenario's fingerprint and options, what the summary needs, the statistics (exact,
  ``stats_to_json``), the two files' sizes, the CRC-32 of the devices' rows (the records' blocks
  carry their own) and, over all of that, its own CRC-32: a byte changed on the way anywhere in a
  shard is refused, never merged.

``--merge`` checks the shards belong together (same scenario, seed and options; every index once)
and ends as one run ends (``writer.finish_dataset``): the records' merge by the same global key,
the devices' rows in shard order, the statistics added up exactly, the summary and README.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from simulator.dataset.layout import FORMAT_VERSION, DatasetError
from simulator.dataset.runs import RUN_FORMAT, RunError, Runs, check_run, write_run
from simulator.dataset.stats import Stats, stats_from_json, stats_to_json
from simulator.journey import ENGINE_VERSION
from simulator.scenario import Scenario

__all__ = [
    "SHARD_MANIFEST",
    "Shard",
    "parse_shard",
    "read_shards",
    "scenario_fingerprint",
    "shard_range",
    "write_shard",
]

SHARD_MANIFEST = "shard.json"
SHARD_RECORDS = "records.run"
SHARD_DEVICES = "devices.part.csv"
_KIND = "loadsim generate shard"
_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` as (I, N): shard I (from 0) of N."""
    m = _SHARD.fullmatch(text)
    if not m:
        raise DatasetError(f"--shard must be I/N, shard I (0 to N-1) of N, such as 0/4; got {text!r}")
    index, count = int(m.group(1)), int(m.group(2))
    if count < 1 or index >= count:
        raise DatasetError(
            f"--shard I/N needs N at least 1 and I from 0 to N-1 (0/{max(count, 1)} first); got {text!r}"
        )
    return index, count


def shard_range(devices: int, index: int, count: int) -> tuple[int, int]:
    """Shard ``index`` of ``count``'s devices, ``[low, high)``: contiguous, disjoint, the whole together."""
    return devices * index // count, devices * (index + 1) // count


def scenario_fingerprint(sc: Scenario) -> str:
    """A digest of everything the scenario decides (its frozen dataclasses' repr: fields only, in
    order), so shards of two different scenarios under one name do not merge. Not where its file
    lies: two hosts' checkouts or installs hold the same scenario at different paths."""
    return hashlib.blake2b(repr(dataclasses.replace(sc, path=None)).encode(), digest_size=16).hexdigest()


def write_shard(
    out_dir: Path,
    runs: Runs,
    parts: list[Path],
    *,
    head: dict[str, Any],
    stats: Stats,
    index: int,
    count: int,
    low: int,
    high: int,
    devices: int,
    fingerprint: str,
) -> None:
    """The shard's records (one sorted run), its devices' rows and, last, its manifest into ``out_dir``."""
    records = write_run(out_dir / SHARD_RECORDS, runs.merged())
    rows = out_dir / SHARD_DEVICES
    with rows.open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
    manifest = {
        "kind": _KIND,
        "format_version": FORMAT_VERSION,
        "engine_version": ENGINE_VERSION,
        "index": index,
        "count": count,
        "low": low,
        "high": high,
        "devices": devices,
        "scenario_fingerprint": fingerprint,
        "head": head,
        "stats": stats_to_json(stats),
        "records_format": RUN_FORMAT,
        "files": {SHARD_RECORDS: records.stat().st_size, SHARD_DEVICES: rows.stat().st_size},
        "devices_crc32": _file_crc(rows),
    }
    manifest["checksum"] = _checksum(manifest)
    tmp = out_dir / f".{SHARD_MANIFEST}.tmp"
    tmp.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    os.replace(tmp, out_dir / SHARD_MANIFEST)  # all at once: a shard.json is always a whole one


@dataclass(frozen=True, slots=True, kw_only=True)
class Shard:
    """A finished shard folder, checked: where it is, which shard, its files and statistics."""

    directory: Path
    index: int
    count: int
    low: int
    high: int
    records: Path
    device_rows: Path
    stats: Stats


def _file_crc(path: Path) -> int:
    crc = 0
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            crc = zlib.crc32(block, crc)
    return crc


def _checksum(manifest: dict[str, Any]) -> int:
    """The CRC-32 of the manifest's content but its checksum, in one canonical form."""
    rest = {k: v for k, v in manifest.items() if k != "checksum"}
    return zlib.crc32(orjson.dumps(rest, option=orjson.OPT_SORT_KEYS))


def _manifest(directory: Path) -> dict[str, Any]:
    if not directory.is_dir():
        raise DatasetError(f"--merge: {directory} is not a folder: give the folders loadsim generate --shard wrote")
    path = directory / SHARD_MANIFEST
    if not path.is_file():
        hint = (
            "it is a dataset, not a shard"
            if (directory / "summary.json").is_file()
            else "a shard that did not finish (or not a shard folder): run its loadsim generate --shard again"
        )
        raise DatasetError(f"--merge: {directory} has no {SHARD_MANIFEST}: {hint}")
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise DatasetError(f"--merge: {path} is not valid JSON ({exc}): run that shard again") from None
    if not isinstance(data, dict) or data.get("kind") != _KIND:
        raise DatasetError(f"--merge: {path} is not a loadsim generate shard's manifest")
    if data.get("checksum") != _checksum(data):
        raise DatasetError(
            f"--merge: {path} is damaged or was edited (its checksum does not match): copy that shard "
            "folder again, or run its loadsim generate --shard again"
        )
    if data.get("format_version") != FORMAT_VERSION:
        raise DatasetError(
            f"--merge: {path} has dataset format {data.get('format_version')!r}, this loadsim writes "
            f"{FORMAT_VERSION}: generate every shard with the same loadsim"
        )
    if data.get("engine_version") != ENGINE_VERSION:
        raise DatasetError(
            f"--merge: {path} was generated by a loadsim whose journeys differ (engine version "
            f"{data.get('engine_version', 1)!r}, this loadsim's is {ENGINE_VERSION}: the same seed gives other "
            "lives): generate every shard with the same loadsim"
        )
    if data.get("records_format") != RUN_FORMAT:
        raise DatasetError(
            f"--merge: {path} keeps its records as {data.get('records_format') or 'a pickle'!r}, this loadsim "
            f"reads {RUN_FORMAT!r}: generate every shard with the same loadsim"
        )
    return data


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What two shards' options differ in, named as the flags and fields a user knows."""
    out: list[str] = []
    da, db = a["head"]["dataset"], b["head"]["dataset"]
    # The scenario file's path may differ (a checkout per host): its content (the fingerprint) decides.
    for name in ("scenario", "seed", "start", "days", "table_format", "gzip"):
        if da.get(name) != db.get(name):
            out.append(f"{name} {da.get(name)!r} vs {db.get(name)!r}")
    for name in ("count", "devices"):
        if a.get(name) != b.get(name):
            label = {"count": "shard count N", "devices": "devices (--users)"}[name]
            out.append(f"{label} {a.get(name)!r} vs {b.get(name)!r}")
    if not out and a.get("scenario_fingerprint") != b.get("scenario_fingerprint"):
        refs = da.get("scenario_ref"), db.get("scenario_ref")
        out.append(
            f"the scenario's content ({refs[0]!r} vs {refs[1]!r})"
            if refs[0] != refs[1]
            else "the scenario's content (same name, edited in between?)"
        )
    if not out and _without_ref(a["head"]) != _without_ref(b["head"]):
        out.append("the scenario's calendar or funnel")
    return out


def _without_ref(head: dict[str, Any]) -> dict[str, Any]:
    return {**head, "dataset": {k: v for k, v in head["dataset"].items() if k != "scenario_ref"}}


def read_shards(directories: list[Path]) -> tuple[dict[str, Any], list[Shard]]:
    """The shards' common head (what the summary needs) and the shards in index order, checked:
    one scenario, seed and options; every index from 0 to N-1 exactly once; files whole."""
    if not directories:
        raise DatasetError("--merge needs the output folder, then the shard folders: --merge OUT SHARD_DIR...")
    manifests = [(d, _manifest(d)) for d in directories]
    first_dir, first = manifests[0]
    for d, m in manifests[1:]:
        diff = _differences(first, m)
        if diff:
            raise DatasetError(
                f"--merge: {first_dir} and {d} are shards of different datasets ({'; '.join(diff)}): "
                "generate every shard with the same scenario, --seed, --users, --days, --start, --format, "
                "--gzip and N"
            )
    count = int(first["count"])
    seen: dict[int, Path] = {}
    shards: list[Shard] = []
    for d, m in manifests:
        index = int(m["index"])
        if index in seen:
            raise DatasetError(f"--merge: {seen[index]} and {d} are both shard {index}/{count}: give each shard once")
        seen[index] = d
        files = {}
        for name, size in m["files"].items():
            path = d / name
            if not path.is_file() or path.stat().st_size != size:
                raise DatasetError(
                    f"--merge: {path} is missing or not the {size:,} bytes {d / SHARD_MANIFEST} says "
                    "(copied only in part?): copy that shard folder again, or run its loadsim generate --shard again"
                )
            files[name] = path
        try:  # all of it, before the output folder is touched: a damaged shard must not cost a dataset there
            check_run(files[SHARD_RECORDS])
        except RunError as exc:
            raise DatasetError(
                f"--merge: {files[SHARD_RECORDS]} cannot be read ({exc}): copy that shard folder again, "
                "or run its loadsim generate --shard again"
            ) from None
        if _file_crc(files[SHARD_DEVICES]) != m.get("devices_crc32"):
            raise DatasetError(
                f"--merge: {files[SHARD_DEVICES]} is damaged (its checksum does not match {d / SHARD_MANIFEST}'s): "
                "copy that shard folder again, or run its loadsim generate --shard again"
            )
        try:
            stats = stats_from_json(m["stats"])
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise DatasetError(f"--merge: {d / SHARD_MANIFEST}: its statistics cannot be read ({exc})") from None
        shards.append(
            Shard(
                directory=d,
                index=index,
                count=count,
                low=int(m["low"]),
                high=int(m["high"]),
                records=files[SHARD_RECORDS],
                device_rows=files[SHARD_DEVICES],
                stats=stats,
            )
        )
    missing = [k for k in range(count) if k not in seen]
    if missing:
        names = ", ".join(f"{k}/{count}" for k in missing)
        raise DatasetError(
            f"--merge: shard(s) {names} missing (got {len(seen)} of {count}): give every shard folder, "
            f"or run loadsim generate ... --shard {missing[0]}/{count} first"
        )
    shards.sort(key=lambda s: s.index)
    devices = int(first["devices"])
    for s in shards:
        if (s.low, s.high) != shard_range(devices, s.index, count):
            raise DatasetError(
                f"--merge: {s.directory / SHARD_MANIFEST} says devices {s.low} to {s.high}, "
                f"not shard {s.index}/{count}'s: run that shard again"
            )
    # Shard 0's head, whatever order the folders came in: the heads differ at most in scenario_ref (a
    # checkout per host), which the dataset records, so the merge is the same bytes either way.
    return next(m["head"] for _, m in manifests if int(m["index"]) == 0), shards
