"""``loadsim generate``: a scenario's population over days of simulated time, written to disk for demos.

The journey engine plays each device's life (sessions, identify, purchases); this package puts it
on a calendar (``[time]`` of the scenario, ``simulator.scenario.TimeConfig``):

- a device installs on a day drawn with the install growth (and campaign installs), at a local
  hour drawn from the daily curve, in its own time zone (``info.deviceTimeZone``, zoneinfo);
- its returning sessions arrive as a non-homogeneous Poisson process whose rate is the journey's
  mean ``session_gap`` shaped by the daily and weekly curves in local time and multiplied on
  campaign days (drawn by thinning); it stops returning when it churns or the period ends;
- sessions started on a campaign day convert more (``JourneyEngine.scale_conversion``).

The engine asks the calendar where each returning session starts (``JourneyEngine.walk``'s
``schedule``) and keeps the session's inner timing from there, so bodies come out with their final
``added_at`` and GA session id, and a life stops being played where the calendar ends it.

One engine for the load test and the dataset: the engine's walk takes every decision and draw; a
load test sends what ``JourneyEngine.send`` builds as dicts, and the dataset renders its commonest
steps (events, searches, views, cart adds of a well-behaved SDK) from cached byte fragments
(``fragments``) and serialises the rest as the load test would: the same bytes, which
tests/unit/test_dataset_engine.py holds together request for request.

Output (``DIR``): ``requests/<endpoint>.jsonl`` with the exact bodies in ``added_at`` order,
``events.csv`` (or ``.parquet``, ``.jsonl``) with one flat row per request, ``devices.csv`` (in the
same format),
``summary.json`` and ``README.md``. Memory stays flat: requests are gathered in bounded chunks,
each sorted and spilled as a run, and the runs are k-way merged block by block into the files.
Everything comes from the scenario seed: the same scenario and seed give byte-identical files.

``jobs`` (``--jobs N``) plays contiguous blocks of devices in N worker processes: each device's
calendar and journey draw from streams of their own (seed, global device index), every record's
sort key is global, and the statistics add up exactly (``Stats.merge``), so the files are the
same bytes for any N. The parent merges the workers' sorted runs and writes every output file.

``shard=(I, N)`` (``--shard I/N``) plays only the contiguous devices of shard I and keeps its
sorted records, devices' rows and statistics in its folder; ``writer.merge`` (``--merge OUT DIR...``)
joins N such folders exactly as the parent joins ``--jobs`` workers: the same bytes as one run.

The package along its seams: ``layout`` (files, columns, format version), ``calendar``, ``runs``
(sorted runs and their merge), ``rows`` (a device's requests as records and rows), ``fragments``
(the bodies' cached parts), ``columnar`` (the in-session walk of a block of sessions in numpy,
held to the engine's by tests, not yet what ``generate`` plays), ``stats``,
``parallel`` (``--jobs``), ``shards`` (``--shard``, ``--merge``'s checks), ``writer`` (``generate``,
``merge``) and ``reader`` (``read_dataset``). Reading a
dataset does not load the writer: ``generate`` is imported from ``writer`` on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator.dataset.layout import (
    DEVICE_COLUMNS,
    ENDPOINT_NAMES,
    FORMAT_VERSION,
    FORMATS,
    TABLE_COLUMNS,
    DatasetError,
)
from simulator.dataset.reader import DatasetRecord, check_dataset, read_dataset, read_summary, time_span

if TYPE_CHECKING:
    from simulator.dataset.writer import generate

__all__ = [
    "DEVICE_COLUMNS",
    "ENDPOINT_NAMES",
    "FORMATS",
    "FORMAT_VERSION",
    "TABLE_COLUMNS",
    "DatasetError",
    "DatasetRecord",
    "check_dataset",
    "generate",
    "read_dataset",
    "read_summary",
    "time_span",
]


def __getattr__(name: str) -> Any:
    # The writer (population, journey engine, multiprocessing) loads only when asked for.
    if name == "generate":
        from simulator.dataset.writer import generate

        return generate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
