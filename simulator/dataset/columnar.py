"""The journey's in-session walk for a block of sessions at once, as numpy arrays.

The first piece of issue #19's columnar engine. ``JourneyEngine._walk`` decides each step of a
session from counter-based draws (``simulator.draws``), so the steps of many sessions can be decided
together: a round per step number, each a handful of array operations over the sessions still
walking. ``BlockWalk.walk`` gives the same states, the same clock (float for float: the same
additions in the same order, the think times' exponentials from a table of ``math.exp``) and the same
bits (products, quantities) as the engine, for every session it is given; tests/unit/test_columnar.py
holds the two together.

What the walk cannot decide alone it stops at, as the engine would stop to ask: the end of the
session, ``max_steps``, or a think time past the session timeout (the engine then opens a new session,
whose start the calendar may move). The caller opens that session and walks on from where it
stopped (``Walked.next_node``, ``next_step``, with the new session's clock).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator import draws
from simulator.journey import JourneyEngine
from simulator.scenario import normal_table

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: Why a session's walk stopped (``Walked.stop``).
ENDED, MAX_STEPS, TIMED_OUT = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Walked:
    """The steps of a block's walk that send a request, in rounds (all the sessions' first steps,
    then their second ...): for each step its session (an index into the block), step number, state
    and clock (the engine's ``life.t`` as it entered the state) and bits (``draws.step_bits``); and
    for each session why it stopped, and where it would go on after a timeout (the state entered
    next, its step number and the clock before the new session's start moves it)."""

    session: I64
    step: I64
    node: I64
    t: F64
    bits: npt.NDArray[np.uint64]
    stop: I64
    next_node: I64
    next_step: I64
    next_t: F64


class BlockWalk:
    """An engine's state machine as tables: cumulative transition probabilities per state (padded
    with 2.0, past any fraction), their targets, and each edge's think time as a median and the row of
    ``math.exp(sigma * z)`` it multiplies."""

    def __init__(self, engine: JourneyEngine) -> None:
        nodes = engine._nodes
        width = max((len(n.cum) for n in nodes), default=0) + 1
        shape = (len(nodes), width)
        # Past a state's edges, a cumulative probability no draw reaches; and each state's count of
        # edges, which a draw past them all reaches (its leftover probability ends the session).
        self._cum = np.full(shape, 2.0)
        self._edges = np.array([len(n.cum) for n in nodes], np.int64)
        self._target = np.zeros(shape, np.int64)
        self._median = np.zeros(shape)
        self._sigma_row = np.zeros(shape, np.int64)
        self._sends = np.array([n.action != "none" for n in nodes])
        sigmas: dict[float, int] = {0.0: 0}
        #: False when a think time is drawn by a sampler (an exponential, uniform or geometric one, or a
        #: clamped lognormal), which the block does not walk yet.
        self.supported = True
        for a, (node, cum) in enumerate(zip(nodes, engine._base_cum, strict=True)):  # not a day's scaled ones
            for k, (_, median, sigma, sampler) in enumerate(node.edges):
                if sampler is not None:
                    self.supported = False
                self._cum[a, k] = cum[k]
                self._target[a, k] = node.targets[k]
                self._median[a, k] = median
                self._sigma_row[a, k] = sigmas.setdefault(sigma, len(sigmas))
        z = normal_table()
        # The engine multiplies the median by math.exp(sigma * z): numpy's exp may differ in the last bit.
        self._exp = np.array([[math.exp(s * q) if s else 1.0 for q in z] for s in sigmas])
        j = engine.scenario.journey
        self._max_steps, self._timeout = j.max_steps, j.session_timeout
        self.start = engine._start

    def walk(self, keys: npt.NDArray[np.uint64], node: I64, step: I64, t: F64) -> Walked:
        """Walk sessions ``keys`` (``draws.session_key``) from state ``node`` at step number ``step``
        and clock ``t`` until each stops, by the scenario's transition probabilities (a calendar day's
        ``scale_conversion`` is the next piece)."""
        if not self.supported:
            raise ValueError("the block walk draws no think time from a sampler yet: walk this journey with the engine")
        n = len(keys)
        stop = np.full(n, ENDED, np.int64)
        next_node = np.full(n, -1, np.int64)
        next_step = np.zeros(n, np.int64)
        next_t = np.zeros(n)
        alive = np.arange(n)
        node, step, t = node.copy(), step.copy(), t.copy()
        out: list[tuple[I64, I64, I64, F64, npt.NDArray[np.uint64]]] = []
        while len(alive):
            bits = draws.block_bits(keys[alive], step)
            sends = self._sends[node]
            out.append((alive[sends], step[sends], node[sends], t[sends], bits[sends]))
            step = step + 1
            full = step >= self._max_steps
            k = (self._cum[node] <= draws.fractions(bits)[:, None]).sum(axis=1)  # bisect_right, as the engine
            ended = k == self._edges[node]  # past every edge: the leftover probability ends the session
            k = np.where(ended, 0, k)
            dt = self._median[node, k] * self._exp[self._sigma_row[node, k], (bits & np.uint64(draws.Z_MASK))]
            target = self._target[node, k]
            t = t + dt
            timed_out = ~ended & ~full & (dt > self._timeout)
            stop[alive[full]] = MAX_STEPS
            gone = alive[timed_out]
            stop[gone] = TIMED_OUT
            next_node[gone], next_step[gone], next_t[gone] = target[timed_out], step[timed_out], t[timed_out]
            walking = ~(ended | full | timed_out)
            alive, node, step, t = alive[walking], target[walking], step[walking], t[walking]
        if not out:
            return Walked(node, step, node, t, keys, stop, next_node, next_step, next_t)  # no sessions: all empty
        cat = np.concatenate
        return Walked(
            cat([o[0] for o in out]),
            cat([o[1] for o in out]),
            cat([o[2] for o in out]),
            cat([o[3] for o in out]),
            cat([o[4] for o in out]),
            stop,
            next_node,
            next_step,
            next_t,
        )


def device_seeds(engine: JourneyEngine, devices: range) -> npt.NDArray[np.uint64]:
    """The seeds of the engine's devices ``devices`` (local indices), as ``draws.session_keys`` takes them."""
    index, seed = engine.population.device_index, engine.rng_seed
    return np.array([seed(index(i)) & draws.MASK for i in devices], np.uint64)


def picks(bits: npt.NDArray[np.uint64], products: I64, counts: I64) -> I64:
    """The product each step picks (``JourneyEngine._pick``): ``products`` the offset of each step's
    state's products in one array of them all, ``counts`` how many it has."""
    frac = draws.fractions(draws.derived_array(bits, draws.PICK))
    return (frac * counts).astype(np.int64) + products


def quantities(bits: npt.NDArray[np.uint64], max_quantity: int) -> I64:
    """The quantity each step adds to the cart (``JourneyEngine._quantity``)."""
    if max_quantity == 1:
        return np.ones(len(bits), np.int64)
    q = draws.derived_array(bits, draws.QUANTITY)
    more = 2 + (draws.fractions(q) * (max_quantity - 1)).astype(np.int64)
    return np.where((q & np.uint64(0xFFFF)) < 49152, 1, more)
