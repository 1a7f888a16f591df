"""``loadsim sample``: the first requests of a small seeded population, as they go on the wire."""

from __future__ import annotations

import dataclasses
import datetime
import time
from typing import Any

import orjson

from simulator.contract import ENDPOINT_PATHS
from simulator.errors import HarnessError, ScenarioError, ScenarioProblem
from simulator.journey import JourneyEngine
from simulator.population import NoDevicesOn, Population
from simulator.scenario import check_seed, load_scenario, say_warnings
from simulator.scenario.load import shown_file

__all__ = ["as_json_line", "as_text", "parse_at", "sample_requests"]
#: Devices drawn to find the requests asked for; a sample never needs the scenario's millions.
SAMPLE_DEVICES = 200


def sample_requests(
    *, scenario: str, count: int, seed: int | None = None, now: float | None = None
) -> list[dict[str, Any]]:
    """Up to ``count`` requests of each endpoint, in the order the devices send them.

    The clock starts at ``now`` (epoch seconds), by default at midnight UTC of the scenario's
    ``[time] start``: never the wall clock, so a seed gives the same bytes on any day. Devices are
    those of the clock's UTC day (``Population.build(on=...)``).
    Raises ``HarnessError`` for a seed out of range or a ``now`` with no device to draw (``--at``),
    ``ScenarioError`` for a ``[time] start`` with none.
    """
    if seed is not None:
        try:
            check_seed(seed)
        except ValueError as exc:
            raise HarnessError(f"--seed {exc}") from None
    sc = load_scenario(scenario)
    say_warnings(sc)
    if seed is not None:
        sc = dataclasses.replace(sc, seed=seed)
    at = now
    if now is None:
        day = datetime.date.fromisoformat(sc.time.start)
        now = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC).timestamp()
    # Devices as they were on the clock's day: models, OS builds, WebViews and app releases out by then.
    on = datetime.datetime.fromtimestamp(now, datetime.UTC).date()
    config = dataclasses.replace(sc.population, devices=min(sc.population.devices, SAMPLE_DEVICES))
    try:
        population = Population.build(config=config, app=sc.app, seed=sc.seed, on=on)
    except NoDevicesOn as e:  # named where the day came from: --at, or the scenario's time.start
        if at is not None:
            raise HarnessError(f"--at {on}: {e}") from None
        file = shown_file(sc.path) if sc.path else sc.name
        raise ScenarioError([ScenarioProblem(file, "time.start", str(e))]) from None
    engine = JourneyEngine(scenario=sc, population=population, start_time=now)
    left = dict.fromkeys(ENDPOINT_PATHS, count)
    out: list[dict[str, Any]] = []
    for i in range(len(population)):
        for req in engine.device_life(i):
            if left[req.endpoint] > 0:
                left[req.endpoint] -= 1
                out.append(
                    {
                        "endpoint": req.endpoint,
                        "method": "POST",
                        "path": ENDPOINT_PATHS[req.endpoint],
                        "headers": req.headers,
                        "body": req.body,
                        "faulty": req.faulty,
                    }
                )
            if not any(left.values()):
                return out
    return out


_EARLIEST = datetime.datetime(1, 1, 1, tzinfo=datetime.UTC).timestamp()
_LATEST = datetime.datetime(9999, 1, 1, tzinfo=datetime.UTC).timestamp()


def parse_at(text: str) -> float:
    """``--at``: ``now`` (the wall clock) or an ISO 8601 date or time (UTC unless it names an offset)."""
    if text == "now":
        return time.time()
    try:
        at = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--at {text!r} is not a time: give an ISO 8601 date or time (2026-03-01, 2026-03-01T09:30:00Z) or now"
        ) from None
    epoch = (at if at.tzinfo else at.replace(tzinfo=datetime.UTC)).timestamp()
    if not _EARLIEST <= epoch < _LATEST:
        # A device's sessions run on for days or weeks after --at: stamps past the year 9999 (or before
        # year 1) are not the contract's timestamps, and the mock would refuse bodies sent as healthy.
        raise ValueError(
            f"--at {text!r} is not a time a sample can start at: give one from 0001-01-01 to 9998-12-31 (UTC)"
        )
    return epoch


def as_json_line(r: dict[str, Any]) -> str:
    return orjson.dumps(r).decode() + "\n"


def as_text(r: dict[str, Any]) -> str:
    headers = "".join(f"{k}: {v}\n" for k, v in r["headers"].items())
    note = "  # faulty SDK: the collector should answer 400" if r["faulty"] else ""
    body = orjson.dumps(r["body"], option=orjson.OPT_INDENT_2).decode()
    return f"{r['method']} {r['path']}{note}\n{headers}\n{body}\n\n"
