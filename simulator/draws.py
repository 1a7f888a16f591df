"""Counter-based draws: what a session decides step by step, as a hash of where it is, not a stream.

A device's ``random.Random`` gives each draw after all the draws before it, so a session can only be
walked after the one before it, a step at a time. The journey engine takes the draws inside a
session's walk (the transition out of each state, its think time, the product picked and the
quantity added) from here instead: a pure function of (seed, device, session, step). The same bits
come out one at a time in Python (the load test, the engine) and for a whole block of sessions at
once as numpy arrays (``block_bits``: the dataset's columnar walk), so the two walk the same life.

The hash is splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
OOPSLA 2014): its finaliser avalanches every input bit, and its outputs at consecutive counters pass
BigCrush. What the per-session decisions draw (a session's ids, its ad click, the phone's aging, a
reinstall) stays on the device's stream, as do the draws of the rarer steps, made as their requests
are built (an identify's email and phone, a checkout's coupon, a faulty SDK's mistakes).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MASK = (1 << 64) - 1
#: splitmix64's increment: 2**64 / the golden ratio.
GOLDEN = 0x9E37_79B9_7F4A_7C15
M1 = 0xBF58_476D_1CE4_E5B9
M2 = 0x94D0_49BB_1331_11EB
#: A 48-bit fraction to a float in [0, 1) (exact: 48 bits fit a double's 53).
UNIT = 2.0**-48
#: The low bits of a step's hash: the index of a think time's normal quantile (``normal_table``).
Z_MASK = 0xFFFF

U64 = npt.NDArray[np.uint64]


def mix(x: int) -> int:
    """splitmix64: the output at counter ``x`` (``mix(0)`` is 0xE220A8397B1DCDAF, its first output seeded 0)."""
    x = (x + GOLDEN) & MASK
    x = ((x ^ (x >> 30)) * M1) & MASK
    x = ((x ^ (x >> 27)) * M2) & MASK
    return x ^ (x >> 31)


def session_key(device_seed: int, session: int) -> int:
    """The key of a device's ``session``-th planned session (``device_seed``: the engine's ``rng_seed``).

    The count is of the sessions the journey plans (its ``sessions`` draw), not of those the device
    opens: a session the app opens after an idle past the timeout walks on under the same key, its
    step numbers counting on."""
    return mix(mix(device_seed & MASK) ^ session)


#: What else a step draws, each from its own hash of the step's bits (``derived``).
PICK, QUANTITY, THINK = 1, 2, 3


def step_bits(key: int, step: int) -> int:
    """The 64 bits of a session's ``step``-th state: its transition's fraction (``fraction(bits)``)
    and its think time's normal quantile (``bits & Z_MASK``: apart from the fraction's 48 bits)."""
    return mix((key + step * GOLDEN) & MASK)


def derived(bits: int, purpose: int) -> int:
    """Another draw of the same step: the product it picks, the quantity it adds, a think time's
    sampler's fraction (``PICK``, ``QUANTITY``, ``THINK``)."""
    return mix(bits ^ purpose)


def fraction(bits: int) -> float:
    """The high 48 bits as a float in [0, 1)."""
    return (bits >> 16) * UNIT


# --- the same, for arrays of sessions (numpy's uint64 arithmetic wraps modulo 2**64, as MASK does) ---

_GOLDEN = np.uint64(GOLDEN)
_M1 = np.uint64(M1)
_M2 = np.uint64(M2)


def mix_array(x: U64) -> U64:
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def session_keys(device_seeds: U64, sessions: U64) -> U64:
    return mix_array(mix_array(device_seeds) ^ sessions)


def block_bits(keys: U64, steps: npt.NDArray[np.int64]) -> U64:
    """``step_bits`` of each session's key at its step number."""
    with np.errstate(over="ignore"):
        return mix_array(keys + steps.astype(np.uint64) * _GOLDEN)


def derived_array(bits: U64, purpose: int) -> U64:
    return mix_array(bits ^ np.uint64(purpose))


def fractions(bits: U64) -> npt.NDArray[np.float64]:
    return (bits >> np.uint64(16)).astype(np.float64) * UNIT
