"""Reconciliation: what the harness got a 200 for against what the mock collector stored.

Counts per endpoint and the order-independent digest of the bodies (``simulator.mock.digest``
summed modulo 2**64): a body acknowledged but not stored, stored twice, or stored altered shows
as a difference.
"""

from __future__ import annotations

import itertools
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any

import orjson

from simulator.contract import ENDPOINT_NAMES
from simulator.digest import DIGEST_MASK
from simulator.mock.admin import admin_headers
from simulator.report.stats import RunStats

__all__ = ["fetch_mock_stats", "reconcile"]

#: Beyond this many cut-off requests an endpoint's subsets are not searched (2**20 sums at most).
MAX_SUBSET_SEARCH = 20


def fetch_mock_stats(admin_url: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """``GET /_admin/stats`` of the mock at ``admin_url`` (its base URL)."""
    req = urllib.request.Request(f"{admin_url.rstrip('/')}/_admin/stats", headers=admin_headers())
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return dict(orjson.loads(resp.read()))


def _stored_interrupted(missing: int, extra: int, interrupted: list[int]) -> bool:
    """Whether ``extra`` of the interrupted bodies account exactly for the ``missing`` digest."""
    if extra == 0:
        return missing == 0
    if len(interrupted) > MAX_SUBSET_SEARCH:
        return True  # too many to search: the count alone was checked
    return any(sum(c) & DIGEST_MASK == missing for c in itertools.combinations(interrupted, extra))


def reconcile(stats: RunStats, mock: dict[str, Any], baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"ok": bool, "differences": [...], "endpoints": {...}}`` for the report.

    ``baseline`` is the mock's stats when the run started: a mock shared with earlier runs
    holds their bodies too, and only what this run added is compared. Requests cut off when the
    test stopped may or may not have been stored: the mock may hold some of them, and their
    digests must then account exactly for the difference.
    """
    differences: list[str] = []
    rows: dict[str, Any] = {}
    base = baseline or {}
    for ep in ENDPOINT_NAMES:
        sent = stats.accepted.get(ep, 0)
        stored = int(mock.get("accepted", {}).get(ep, 0)) - int(base.get("accepted", {}).get(ep, 0))
        ours = stats.digests.get(ep, 0)
        theirs = (int(mock.get("digest", {}).get(ep, 0)) - int(base.get("digest", {}).get(ep, 0))) & DIGEST_MASK
        cut_off = stats.interrupted.get(ep, [])
        extra = stored - sent
        rows[ep] = {"acknowledged": sent, "stored": stored, "interrupted": len(cut_off), "digest_match": ours == theirs}
        if extra < 0:
            differences.append(f"{ep}: the harness got {sent} 200s, the mock stored {stored} (lost: {-extra})")
        elif extra > len(cut_off):
            differences.append(
                f"{ep}: the harness got {sent} 200s, the mock stored {stored} "
                f"(extra: {extra - len(cut_off)} beyond {len(cut_off)} cut off at stop)"
            )
        elif not _stored_interrupted((theirs - ours) & DIGEST_MASK, extra, cut_off):
            differences.append(
                f"{ep}: same count ({sent}) but the stored bodies differ from those acknowledged"
                if extra == 0
                else f"{ep}: the stored bodies differ from those acknowledged and cut off at stop"
            )
    merges = _check_merges(stats, mock, base, differences)
    return {
        "ok": not differences,
        "differences": differences,
        "endpoints": rows,
        "merges": merges,
        "mock": {k: mock.get(k) for k in ("profiles", "merges", "warnings")},
    }


def expected_merges(identities: Iterable[tuple[str, str | None, str | None]]) -> int:
    """Profile merges a collector makes for these identifies: every user id starts as its own
    profile, and an identify joins it to whichever profile already holds its email or phone.

    Whatever the order, that is the user ids identified less the groups they form (union-find).
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    unions = 0
    for uid, email, phone in identities:
        node = "uid:" + uid
        parent.setdefault(node, node)
        for key in (email and "email:" + email, phone and "phone:" + phone):
            if not key:
                continue
            if key not in parent:
                parent[key] = find(node)
                continue
            a, b = find(node), find(key)
            if a != b:
                parent[a] = b
                unions += 1
    return unions


def _check_merges(
    stats: RunStats, mock: dict[str, Any], base: dict[str, Any], differences: list[str]
) -> dict[str, Any]:
    """The merges the journeys imply against those the mock made (only a mock fresh at the start
    can be held to it: earlier runs' profiles would join this run's)."""
    if "merges" not in mock:
        return {"checked": False, "why": "the mock does not report merges"}
    if base.get("profiles"):
        return {"checked": False, "why": "the mock held profiles before this run"}
    made = int(mock["merges"]) - int(base.get("merges", 0))
    low = expected_merges(stats.identities)
    high = expected_merges([*stats.identities, *stats.interrupted_identities]) if stats.interrupted_identities else low
    if not low <= made <= high:
        want = str(low) if low == high else f"{low} to {high}"
        differences.append(f"identity stitching: the journeys imply {want} profile merges, the mock made {made}")
    return {"checked": True, "expected": low if low == high else [low, high], "made": made}


def try_reconcile(stats: RunStats, admin_url: str, baseline: dict[str, Any] | None) -> dict[str, Any]:
    """``reconcile`` against a live mock; an unreachable mock is a failed reconciliation, said plainly."""
    try:
        mock = fetch_mock_stats(admin_url)
    except (OSError, urllib.error.URLError, ValueError) as e:
        return {"ok": False, "differences": [f"could not read the mock's stats at {admin_url}: {e}"], "endpoints": {}}
    return reconcile(stats, mock, baseline)
