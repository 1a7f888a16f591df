"""One model: the dataset plays the load test's journeys, and its fast bodies are the engine's bytes.

The journey engine decides every step (``JourneyEngine.walk``); a load test sends what ``send``
builds as dicts (``device_life`` is walk + send), and the dataset renders its commonest steps from
cached fragments (``simulator.dataset.fragments``) instead. These tests play the same devices both
ways, the fragments and the engine's dicts serialised by orjson, and want every record (sort key,
body, table row), every device row and every statistic to be identical: a renderer that drifts
from the engine, in a key's order, an escape, a number's text or a body's length in bytes, fails
here on the first differing request.
"""

from __future__ import annotations

import dataclasses
import io
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from simulator.dataset.layout import DatasetError
from simulator.dataset.rows import Generator
from simulator.dataset.runs import LEN_MASK, LEN_SHIFT
from simulator.journey import JourneyEngine
from simulator.scenario import Scenario, bundled_scenarios, load_scenario


def play(sc: Scenario, devices: int, days: int, *, fragments: bool) -> tuple[list[Any], bytes, Generator]:
    sc = dataclasses.replace(sc, population=dataclasses.replace(sc.population, devices=devices))
    gen = Generator(sc, config=sc.time, start=sc.time.start_date(), days=days, table_format="csv", fragments=fragments)
    records: list[Any] = []
    rows = io.BytesIO()
    for i in range(devices):
        gen.device(i, records, rows)
    gen.finish()
    return records, rows.getvalue(), gen


def assert_same_play(sc: Scenario, devices: int, days: int) -> list[Any]:
    fast, fast_rows, fast_gen = play(sc, devices, days, fragments=True)
    slow, slow_rows, slow_gen = play(sc, devices, days, fragments=False)
    assert len(fast) == len(slow)
    for k, (a, b) in enumerate(zip(fast, slow, strict=True)):
        if a != b:  # the first difference, readable
            n = b[0] >> LEN_SHIFT & LEN_MASK
            assert a[1][:n].decode() == b[1][:n].decode(), f"request {k}: body"
            assert a[1][n:].decode() == b[1][n:].decode(), f"request {k}: table row"
            assert a[0] == b[0], f"request {k}: sort key"
    assert fast_rows == slow_rows
    assert fast_gen.stats == slow_gen.stats
    return fast


@pytest.mark.parametrize("name", [name for name, _ in bundled_scenarios()])
def test_every_bundled_scenario_renders_the_engines_bytes(name: str) -> None:
    records = assert_same_play(load_scenario(name), devices=300, days=6)
    assert records, "the scenario sends something"


def per_session(bodies: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Requests of each session (by ``sid``), counted by step name."""
    out: dict[str, Counter[str]] = {}
    for body in bodies:
        out.setdefault(body["sid"], Counter())[body.get("event_name", "externalIds")] += 1
    return out


def test_ten_thousand_devices_play_the_load_tests_sessions() -> None:
    """The dataset is the load test's journeys put on a calendar: over 10,000 devices each step
    comes out as the engine renders it (identity, record for record), and what a session does
    inside (its length, views, cart adds, purchases) is what the load test's sessions do, within
    statistical tolerance (the calendar moves sessions in time, churn ends lives early and the
    period's end cuts the last ones: none of that may change a session's inside)."""
    sc = load_scenario("ecommerce")
    records = assert_same_play(sc, devices=10_000, days=3)
    dataset_bodies = [orjson.loads(data[: key >> LEN_SHIFT & LEN_MASK]) for key, data in records]
    steps = Counter(b.get("event_name", "") for b in dataset_bodies)
    # The fragments rendered the bulk of these: a pass where everything fell back to dicts proves nothing.
    assert steps["View Item"] > 10_000 and steps["Screen View"] > 5_000

    sc = dataclasses.replace(sc, population=dataclasses.replace(sc.population, devices=10_000))
    from simulator.population import Population

    engine = JourneyEngine(scenario=sc, population=Population.build(config=sc.population, app=sc.app, seed=sc.seed))
    load_test_bodies = [r.body for i in range(10_000) for r in engine.device_life(i)]
    ours, theirs = per_session(dataset_bodies), per_session(load_test_bodies)
    assert len(ours) > 10_000 and len(theirs) > 10_000
    for label, measure in (
        ("requests per session", lambda c: sum(c.values())),
        ("views per session", lambda c: c["View Item"]),
        ("sessions adding to the cart", lambda c: c["Add to Cart"] > 0),
        ("sessions buying", lambda c: c["Purchase"] > 0),
    ):
        a = [float(measure(c)) for c in ours.values()]
        b = [float(measure(c)) for c in theirs.values()]
        mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
        var = sum((x - mean_a) ** 2 for x in a) / len(a) / len(a) + sum((x - mean_b) ** 2 for x in b) / len(b) / len(b)
        assert abs(mean_a - mean_b) <= 4 * var**0.5 + 0.02 * mean_b, (label, mean_a, mean_b)


def test_text_a_scenario_gives_is_escaped_and_measured_in_bytes(tmp_path: Path) -> None:
    """Event names, properties and campaign names come from the scenario: quotes, backslashes and
    non-ASCII text must come out as orjson writes them, and a body's length is counted in bytes
    (the writer splits body from row by it)."""
    path = tmp_path / "text.toml"
    path.write_text(
        """extends = "ecommerce"
name = "text"
[journey.states.launch]
action = "event"
event = 'Ouverture "appli" \\ café'
properties = { description = "écran d'accueil, ½", emoji = "🛒", n = 3, ok = true }
next = { home = 0.97 }
[journey.attribution]
share = 0.6
campaigns = ['soldes "été"', "fête,2026"]
""",
        encoding="utf-8",
    )
    sc = load_scenario(path)
    records = assert_same_play(sc, devices=200, days=3)
    bodies = [data[: key >> LEN_SHIFT & LEN_MASK] for key, data in records]
    opened = [orjson.loads(b) for b in bodies if b'"Ouverture' in b]
    assert opened and opened[0]["properties"]["emoji"] == "🛒"
    assert any(b'"utm_params"' in b and "été".encode() in b for b in bodies)


@pytest.mark.parametrize("fragments", [True, False])
def test_a_body_past_what_a_record_holds_is_refused_not_cut(tmp_path: Path, fragments: bool) -> None:
    """A scenario's properties can make a body larger than the 1 MiB a record's key can say: both
    renderers refuse it, naming the step, rather than write a body split in the wrong place."""
    path = tmp_path / "big.toml"
    path.write_text(
        'extends = "ecommerce"\nname = "big"\n[journey.states.home]\n'
        f'properties = {{ description = "{"x" * 1_100_000}" }}\n',
        encoding="utf-8",
    )
    with pytest.raises(DatasetError, match=r"step event:Screen View: a body of 1,100,\d+ bytes, past the 1 MiB"):
        play(load_scenario(path), devices=3, days=1, fragments=fragments)


@pytest.mark.parametrize("name", ["ecommerce", "bad-clients"])
def test_the_summary_counts_what_the_files_hold(tmp_path: Path, name: str) -> None:
    """The generator counts requests per local day when the day changes and per step at a life's
    end, not per request: the summary must still be the files' own counts, day by day (a period
    over Europe's and America's spring DST change, so local days and offsets move under it)."""
    import csv

    from simulator.dataset import generate

    summary = generate(name, out=tmp_path, users=400, days=5, start="2026-03-06", quiet=True)
    with (tmp_path / "events.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    days = summary["daily"]
    assert [d["requests"] for d in days] == [sum(r["day"] == str(k + 1) for r in rows) for k in range(len(days))]
    assert [d["active_devices"] for d in days] == [
        len({r["device"] for r in rows if r["day"] == str(k + 1)}) for k in range(len(days))
    ]
    healthy = Counter(r["event_name"] for r in rows if r["faulty"] == "0" and r["event_name"])
    assert summary["events_by_name"] == dict(sorted(healthy.items()))
    assert {ep: summary["requests"][ep] for ep in ("externalIds", "identify", "events")} == Counter(
        r["endpoint"] for r in rows
    )
    assert summary["requests"]["faulty"] == sum(r["faulty"] == "1" for r in rows)
