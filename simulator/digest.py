"""The reconciliation digest: what the load runner and the mock collector both compute.

A body's digest is the first 8 bytes of BLAKE2b (``digest_size=8``) of its raw bytes, read as a
little-endian unsigned integer. Digests combine by addition modulo 2**64, so the digest of a set
of bodies does not depend on their order: the harness sums those it got a 200 for, the mock
those it stored, and ``GET /_admin/stats`` reports the mock's per endpoint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["DIGEST_MASK", "combine", "digest", "digest_all"]

DIGEST_MASK = (1 << 64) - 1


def digest(body: bytes) -> int:
    """The digest of one body's raw bytes."""
    return int.from_bytes(hashlib.blake2b(body, digest_size=8).digest(), "little")


def combine(total: int, body: bytes) -> int:
    """``total`` with one more body: ``(total + digest(body)) % 2**64``."""
    return (total + digest(body)) & DIGEST_MASK


def digest_all(bodies: Iterable[bytes]) -> int:
    """The digest of many bodies (0 for none)."""
    total = 0
    for body in bodies:
        total = (total + digest(body)) & DIGEST_MASK
    return total
