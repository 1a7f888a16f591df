"""User ids, session ids and UUIDs as the API reference defines them, drawn from seeded generators.

``uuid.uuid4()`` reads the OS entropy pool, so a run could never be reproduced from its seed.
Here every UUID comes from the run's seeded randomness: drawn in bulk from numpy for a whole
population (kept as 16 raw bytes, formatted when a device is materialised), or one at a time
from a device's own ``random.Random`` stream in its journey.
"""

from __future__ import annotations

import random

import numpy as np

__all__ = [
    "SESSION_PREFIX",
    "ZERO_AD_ID",
    "format_uuid",
    "mark_uuid4",
    "random_uuid4_bytes",
    "session_id",
    "user_id",
    "uuid4_from",
]

SESSION_PREFIX = "CL-"
#: The advertising id an OS reports when the user limited ad tracking.
ZERO_AD_ID = "00000000-0000-0000-0000-000000000000"


def mark_uuid4(raw: np.ndarray) -> None:
    """Set the version (4) and variant (RFC 4122) bits, in place, of an ``(n, 16)`` uint8 array or view."""
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80


def random_uuid4_bytes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` UUIDv4 values as an ``(n, 16)`` uint8 array: drawn in bulk, version and variant set."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    mark_uuid4(raw)
    return raw


def format_uuid(raw16: bytes | np.ndarray, *, upper: bool = False) -> str:
    """The canonical 8-4-4-4-12 string of 16 bytes (about 1 us: a device's ids are formatted on demand)."""
    h = bytes(raw16).hex()
    s = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return s.upper() if upper else s


_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


def uuid4_from(rnd: random.Random) -> str:
    """One UUIDv4 from a ``random.Random`` stream (a device's own): 128 random bits, version 4,
    variant 10xx. A third of the cost of drawing bytes and formatting them."""
    h = f"{rnd.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def user_id(app_id: str, uuid: str, separator: str = "") -> str:
    """``app_id`` + UUIDv4, as the reference defines it (the published sample code uses ``_``)."""
    return f"{app_id}{separator}{uuid}"


def session_id(uuid: str) -> str:
    """``CL-`` + UUIDv4."""
    return SESSION_PREFIX + uuid
