"""The columnar walk (``dataset.columnar``) against the journey engine: the same sessions, walked a
block at a time in numpy and a step at a time in Python, give the same states, clocks and draws."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter, defaultdict
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from simulator import draws
from simulator.dataset.columnar import ENDED, MAX_STEPS, TIMED_OUT, BlockWalk, device_seeds, picks, quantities
from simulator.journey import JourneyEngine
from simulator.population import Population
from simulator.scenario import Scenario, load_scenario, parse_scenario

#: Think times around the session timeout (30 minutes), so that walks stop for a new session in
#: mid-walk as often as they end, and a state that sends nothing.
PAUSES = """
seed = 5
[journey]
start = "a"
think = "lognormal(20m, 1.2)"
sessions = "lognormal(3, 1)"
max_steps = 12
[journey.states]
a = { event = "A", next = { b = 0.6, c = 0.3 } }
b = { action = "none", next = { c = 0.5, a = { p = 0.45, think = "3s" } } }
c = { event = "C", next = { a = { p = 0.9, think = "lognormal(40s, 0.5)" } } }
"""

#: Probabilities that add up to 1 in decimal but whose running sum in floats ends just past it
#: (0.33 + 0.56 + 0.11 = 1.0000000000000002): the last state is still reached, nothing is left over.
PAST_ONE = """
seed = 9
[journey]
start = "a"
max_steps = 20
[journey.states]
a = { event = "A", next = { b = 0.33, c = 0.56, d = 0.11 } }
b = { event = "B", next = { a = 0.5 } }
c = { event = "C", next = { a = 0.5 } }
d = { event = "D", next = { a = 0.5 } }
"""

SCENARIOS = {"pauses": PAUSES, "past-one": PAST_ONE}


def _engine(s: Scenario, devices: int) -> JourneyEngine:
    pop = Population.build(config=dataclasses.replace(s.population, devices=devices), app=s.app, seed=s.seed)
    return JourneyEngine(scenario=s, population=pop)


def _python_segments(engine: JourneyEngine, i: int) -> list[tuple[float, list[tuple[int, float, int]]]]:
    """Device ``i``'s life as the engine walks it: per externalIds (an opened session), its clock
    and the steps up to the next one, each as (state index, clock, bits)."""
    index = {id(n): k for k, n in enumerate(engine._nodes)}
    life, steps = engine.walk(i)
    segments: list[tuple[float, list[tuple[int, float, int]]]] = []
    for node, x in steps:
        if node is None:
            if x.endpoint == "externalIds":
                segments.append((x.offset, []))
            continue
        segments[-1][1].append((index[id(node)], life.t, life.bits))
        engine.send(life, node, x)  # every step's draws, as device_life makes them
    return segments


def _block_segments(engine: JourneyEngine, devices: int) -> tuple[list[Any], Counter[int]]:
    """The same lives walked by ``BlockWalk`` in rounds: round r walks every device's r-th segment at
    once, from where the engine opened it (its clock: the calendar's business, not the walk's).
    A segment after an ended walk is the device's next session (from the start state, step 0); one
    after a timeout goes on with the same session's key from where the walk stopped."""
    block = BlockWalk(engine)
    assert block.supported
    lives = [_python_segments(engine, i) for i in range(devices)]
    seeds = device_seeds(engine, range(devices))
    session = np.zeros(devices, np.int64)
    node = np.full(devices, block.start, np.int64)
    step = np.zeros(devices, np.int64)
    walked: list[list[tuple[float, list[tuple[int, float, int]]]]] = [[] for _ in range(devices)]
    stops: Counter[int] = Counter()
    r = 0
    while True:
        who = np.array([d for d in range(devices) if r < len(lives[d])], np.int64)
        if not len(who):
            break
        t0 = np.array([lives[d][r][0] for d in who])
        keys = draws.session_keys(seeds[who], session[who].astype(np.uint64))
        w = block.walk(keys, node[who], step[who], t0)
        per: dict[int, list[tuple[int, float, int]]] = defaultdict(list)
        for s, k, t, b in zip(w.session.tolist(), w.node.tolist(), w.t.tolist(), w.bits.tolist(), strict=True):
            per[s].append((k, t, b))
        for j, d in enumerate(who.tolist()):
            walked[d].append((float(t0[j]), per[j]))
            stops[int(w.stop[j])] += 1
            if w.stop[j] == TIMED_OUT:
                node[d], step[d] = w.next_node[j], w.next_step[j]
                assert w.next_t[j] == lives[d][r + 1][0]  # no calendar here: the new session opens then
            else:
                session[d] += 1
                node[d], step[d] = block.start, 0
        r += 1
    return [lives, walked], stops


@pytest.mark.parametrize("name", ["pauses", "past-one", "ecommerce"])
def test_the_block_walk_takes_the_engines_steps_clocks_and_draws(name: str) -> None:
    s = parse_scenario(SCENARIOS[name]) if name in SCENARIOS else load_scenario("ecommerce")
    engine = _engine(s, 1500)
    (lives, walked), stops = _block_segments(engine, 1500)
    assert walked == lives  # floats compared exactly: the same additions in the same order
    if name == "pauses":  # every way a walk stops, many times
        assert min(stops[ENDED], stops[MAX_STEPS], stops[TIMED_OUT]) > 100, stops
    assert sum(len(steps) for life in lives for _, steps in life) > 5000
    if name == "past-one":  # the state after the running sum's last addition is walked to
        assert sum(k == 3 for life in walked for _, steps in life for k, _, _ in steps) > 100


def test_splitmix64_gives_its_published_outputs_in_python_and_numpy() -> None:
    # splitmix64 seeded 0 (Vigna's reference splitmix64.c): outputs at counters 0, 1, 2.
    expected = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    assert [draws.mix(k * draws.GOLDEN & draws.MASK) for k in range(3)] == expected
    rnd = random.Random(3)
    xs = [rnd.getrandbits(64) for _ in range(2000)]
    assert draws.mix_array(np.array(xs, np.uint64)).tolist() == [draws.mix(x) for x in xs]
    steps = [rnd.randrange(1000) for _ in xs]
    assert draws.block_bits(np.array(xs, np.uint64), np.array(steps, np.int64)).tolist() == [
        draws.step_bits(x, k) for x, k in zip(xs, steps, strict=True)
    ]


@pytest.mark.parametrize("max_quantity", [1, 3, 100])
def test_the_block_picks_and_quantities_are_the_engines(max_quantity: int) -> None:
    s = load_scenario("ecommerce")
    s = dataclasses.replace(
        s,
        journey=dataclasses.replace(
            s.journey, commerce=dataclasses.replace(s.journey.commerce, max_quantity=max_quantity)
        ),
    )
    engine = _engine(s, 10)
    rnd = random.Random(max_quantity)
    bits = [rnd.getrandbits(64) for _ in range(5000)]
    nodes = [engine._nodes[rnd.randrange(len(engine._nodes))] for _ in bits]
    pool = [k for n in engine._nodes for k in n.products]
    offsets = np.cumsum([0] + [len(n.products) for n in engine._nodes])
    where = {id(n): (int(offsets[a]), len(n.products)) for a, n in enumerate(engine._nodes)}
    got = picks(
        np.array(bits, np.uint64),
        np.array([where[id(n)][0] for n in nodes], np.int64),
        np.array([where[id(n)][1] for n in nodes], np.int64),
    )
    life = SimpleNamespace()
    expected = []
    for b, n in zip(bits, nodes, strict=True):
        life.bits = b
        expected.append(engine._pick(life, n))  # type: ignore[arg-type]
    assert [pool[k] for k in got.tolist()] == expected
    assert quantities(np.array(bits, np.uint64), max_quantity).tolist() == [engine._quantity(b) for b in bits]
    if max_quantity > 1:  # three in four add one, the rest 2 .. max alike
        ones = sum(engine._quantity(b) == 1 for b in bits) / len(bits)
        assert abs(ones - 0.75) < 0.03, ones


def test_a_block_built_on_a_scaled_day_walks_the_scenarios_probabilities() -> None:
    """The engine's tables of the moment may be a campaign day's (``scale_conversion``): the block
    takes the scenario's own, so it walks the same whenever it is built."""
    engine = _engine(load_scenario("ecommerce"), 400)
    base = BlockWalk(engine)
    engine.scale_conversion(3.0)
    scaled_day = BlockWalk(engine)
    engine.scale_conversion(1.0)
    keys = draws.session_keys(device_seeds(engine, range(400)), np.zeros(400, np.uint64))
    zeros = np.zeros(400, np.int64)
    a, b = (w.walk(keys, zeros + w.start, zeros, np.zeros(400)) for w in (base, scaled_day))
    assert a.node.tolist() == b.node.tolist() and len(a.node) > 1000


def test_a_journey_with_sampled_think_times_is_refused_not_walked_wrong() -> None:
    s = parse_scenario(PAUSES.replace('think = "lognormal(20m, 1.2)"', 'think = "exponential(20m)"'))
    block = BlockWalk(_engine(s, 10))
    assert not block.supported
    zeros = np.zeros(1, np.int64)
    with pytest.raises(ValueError, match="walk this journey with the engine"):
        block.walk(np.zeros(1, np.uint64), zeros, zeros, np.zeros(1))
