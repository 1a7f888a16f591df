"""User ids, session ids and UUIDs as the API reference defines them, drawn from a seeded generator.

``uuid.uuid4()`` reads the OS entropy pool, so a run could never be reproduced from its seed.
Here every UUID comes from the run's ``numpy.random.Generator``: 16 random bytes with the
version (4) and variant (RFC 4122) bits set, formatted in bulk with numpy.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SESSION_PREFIX",
    "ZERO_AD_ID",
    "IdSource",
    "format_uuid",
    "format_uuids",
    "random_uuid4_bytes",
    "session_id",
    "user_id",
]

SESSION_PREFIX = "CL-"
#: The advertising id an OS reports when the user limited ad tracking.
ZERO_AD_ID = "00000000-0000-0000-0000-000000000000"

_HEX_LOWER = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX_UPPER = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
# Positions of the 32 hex digits inside the 36-character canonical form.
_DIGIT_COLUMNS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)], dtype=np.intp)


def random_uuid4_bytes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` UUIDv4 values as an ``(n, 16)`` uint8 array: 16 bytes each, version and variant set."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # variant 10xx (RFC 4122)
    return raw


def format_uuids(raw: np.ndarray, *, upper: bool = False) -> list[str]:
    """Canonical 8-4-4-4-12 strings for an ``(n, 16)`` uint8 array, vectorised."""
    raw = np.asarray(raw, dtype=np.uint8).reshape(-1, 16)
    hexdigits = _HEX_UPPER if upper else _HEX_LOWER
    n = raw.shape[0]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    digits = np.empty((n, 32), dtype=np.uint8)
    digits[:, 0::2] = hexdigits[raw >> 4]
    digits[:, 1::2] = hexdigits[raw & 0x0F]
    out[:, _DIGIT_COLUMNS] = digits
    return out.view("S36").ravel().astype("U36").tolist()


def format_uuid(raw16: bytes | np.ndarray, *, upper: bool = False) -> str:
    """One canonical UUID string from 16 bytes (about 1 us; for materialising one device)."""
    h = bytes(raw16).hex()
    s = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return s.upper() if upper else s


def user_id(app_id: str, uuid: str, separator: str = "") -> str:
    """``app_id`` + UUIDv4, as the reference defines it (the published sample code uses ``_``)."""
    return f"{app_id}{separator}{uuid}"


def session_id(uuid: str) -> str:
    """``CL-`` + UUIDv4."""
    return SESSION_PREFIX + uuid


class IdSource:
    """A stream of seeded UUIDv4 strings, drawn and formatted in blocks so each costs well under 1 us."""

    __slots__ = ("_block", "_buffer", "_rng")

    def __init__(self, rng: np.random.Generator, *, block: int = 1024) -> None:
        self._rng = rng
        self._block = block
        self._buffer: list[str] = []

    def uuid(self) -> str:
        if not self._buffer:
            self._buffer = format_uuids(random_uuid4_bytes(self._rng, self._block))
            self._buffer.reverse()
        return self._buffer.pop()

    def session_id(self) -> str:
        return SESSION_PREFIX + self.uuid()

    def user_id(self, app_id: str, separator: str = "") -> str:
        return f"{app_id}{separator}{self.uuid()}"
