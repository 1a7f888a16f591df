"""Reconciliation: what the harness got a 200 for against what the mock collector stored.

Counts per endpoint and the order-independent digest of the bodies (``simulator.mock.digest``
summed modulo 2**64): a body acknowledged but not stored, stored twice, or stored altered shows
as a difference.
"""

from __future__ import annotations

import itertools
import urllib.error
import urllib.request
from typing import Any

import orjson

from simulator.loadtest.stats import DIGEST_MOD, RunStats

__all__ = ["fetch_mock_stats", "reconcile"]

ENDPOINTS = ("externalIds", "identify", "events")
#: Beyond this many cut-off requests an endpoint's subsets are not searched (2**20 sums at most).
MAX_SUBSET_SEARCH = 20


def fetch_mock_stats(admin_url: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """``GET /_admin/stats`` of the mock at ``admin_url`` (its base URL)."""
    with urllib.request.urlopen(f"{admin_url.rstrip('/')}/_admin/stats", timeout=timeout) as resp:
        return dict(orjson.loads(resp.read()))


def _stored_interrupted(missing: int, extra: int, interrupted: list[int]) -> bool:
    """Whether ``extra`` of the interrupted bodies account exactly for the ``missing`` digest."""
    if extra == 0:
        return missing == 0
    if len(interrupted) > MAX_SUBSET_SEARCH:
        return True  # too many to search: the count alone was checked
    return any(sum(c) % DIGEST_MOD == missing for c in itertools.combinations(interrupted, extra))


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
    for ep in ENDPOINTS:
        sent = stats.accepted.get(ep, 0)
        stored = int(mock.get("accepted", {}).get(ep, 0)) - int(base.get("accepted", {}).get(ep, 0))
        ours = stats.digests.get(ep, 0)
        theirs = (int(mock.get("digest", {}).get(ep, 0)) - int(base.get("digest", {}).get(ep, 0))) % DIGEST_MOD
        cut_off = stats.interrupted.get(ep, [])
        extra = stored - sent
        rows[ep] = {"acknowledged": sent, "stored": stored, "interrupted": len(cut_off),
                    "digest_match": ours == theirs}
        if extra < 0:
            differences.append(f"{ep}: the harness got {sent} 200s, the mock stored {stored} (lost: {-extra})")
        elif extra > len(cut_off):
            differences.append(f"{ep}: the harness got {sent} 200s, the mock stored {stored} "
                               f"(extra: {extra - len(cut_off)} beyond {len(cut_off)} cut off at stop)")
        elif not _stored_interrupted((theirs - ours) % DIGEST_MOD, extra, cut_off):
            differences.append(f"{ep}: same count ({sent}) but the stored bodies differ from those acknowledged"
                               if extra == 0 else
                               f"{ep}: the stored bodies differ from those acknowledged and cut off at stop")
    return {"ok": not differences, "differences": differences, "endpoints": rows,
            "mock": {k: mock.get(k) for k in ("profiles", "merges", "warnings")}}


def try_reconcile(stats: RunStats, admin_url: str, baseline: dict[str, Any] | None) -> dict[str, Any]:
    """``reconcile`` against a live mock; an unreachable mock is a failed reconciliation, said plainly."""
    try:
        mock = fetch_mock_stats(admin_url)
    except (OSError, urllib.error.URLError, ValueError) as e:
        return {"ok": False, "differences": [f"could not read the mock's stats at {admin_url}: {e}"],
                "endpoints": {}}
    return reconcile(stats, mock, baseline)
