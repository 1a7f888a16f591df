"""Reconciliation: what the harness got a 200 for against what the mock collector stored.

Counts per endpoint and the order-independent digest of the bodies (``simulator.mock.digest``
summed modulo 2**64): a body acknowledged but not stored, stored twice, or stored altered shows
as a difference.

"Stored" means the rows the mock's SQLite store has durably committed (``stats()["stored"]``:
per endpoint a count and a digest, grown only after a COMMIT), never its acknowledgement
counters: a mock whose store cannot write and still answers 200 has lost those bodies, and
reconciliation must say so. Rows still waiting for their COMMIT when the test stops are waited
for, a few seconds at most.
"""

from __future__ import annotations

import itertools
import time
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
#: What the mock's memory caps cost (``stats()`` keys): bodies a capped ``:memory:`` store did not keep
#: (their counts and digests are kept) and profiles forgotten past ``--max-profiles``.
MEMORY_CAPS = ("bodies_dropped", "profiles_forgotten")
#: Seconds reconciliation waits for the mock's pending rows to be committed before it counts.
DRAIN_WAIT = 5.0


def _pending(mock: dict[str, Any]) -> int:
    """Rows the mock accepted and has not committed yet (0 when it does not say)."""
    for key in ("store", "stored"):
        part = mock.get(key)
        if isinstance(part, dict) and isinstance(part.get("pending"), int):
            return int(part["pending"])
    return 0


def _stored_rows(mock: dict[str, Any], base: dict[str, Any], ep: str) -> tuple[int, int] | None:
    """(count, digest) of the rows of ``ep`` the mock committed since ``base``; None if it does not say."""
    now = (mock.get("stored") or {}).get(ep)
    if not isinstance(now, dict) or "count" not in now:
        return None
    then = (base.get("stored") or {}).get(ep) or {}
    count = int(now["count"]) - int(then.get("count", 0))
    return count, (int(now.get("digest", 0)) - int(then.get("digest", 0))) & DIGEST_MASK


def _written(stats: dict[str, Any]) -> int | None:
    """An older mock's total of rows written (all endpoints), if that is all it says."""
    stored = stats.get("stored")
    if isinstance(stored, dict) and isinstance(stored.get("written"), int):
        return int(stored["written"])
    return None


#: ``--mock-admin none``: the target is a collector of the user's own, with no mock admin API to
#: reconcile against.
NO_MOCK_ADMIN = "none"


def fetch_mock_stats(admin_url: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """``GET /_admin/stats`` of the mock at ``admin_url`` (its base URL)."""
    req = urllib.request.Request(f"{admin_url.rstrip('/')}/_admin/stats", headers=admin_headers())
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return dict(orjson.loads(resp.read()))


def fetch_settled_stats(admin_url: str, *, wait: float = DRAIN_WAIT) -> dict[str, Any]:
    """The mock's stats once its pending rows are committed (or ``wait`` seconds have passed)."""
    deadline = time.monotonic() + wait
    mock = fetch_mock_stats(admin_url)
    while _pending(mock) and time.monotonic() < deadline:
        time.sleep(0.1)
        mock = fetch_mock_stats(admin_url)
    return mock


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
    source = "stored rows" if all(_stored_rows(mock, base, ep) is not None for ep in ENDPOINT_NAMES) else "counters"
    pending = _pending(mock)
    for ep in ENDPOINT_NAMES:
        sent = stats.accepted.get(ep, 0)
        rows_now = _stored_rows(mock, base, ep)
        if rows_now is not None:
            stored, theirs = rows_now
        else:  # an older mock: its acknowledgement counters (the total of rows written is checked below)
            stored = int(mock.get("accepted", {}).get(ep, 0)) - int(base.get("accepted", {}).get(ep, 0))
            theirs = (int(mock.get("digest", {}).get(ep, 0)) - int(base.get("digest", {}).get(ep, 0))) & DIGEST_MASK
        ours = stats.digests.get(ep, 0)
        cut_off = stats.interrupted.get(ep, [])
        extra = stored - sent
        rows[ep] = {"acknowledged": sent, "stored": stored, "interrupted": len(cut_off), "digest_match": ours == theirs}
        if extra < 0:
            why = f"; {pending} rows still uncommitted, the store says: {_store_error(mock)}" if pending else ""
            differences.append(f"{ep}: the harness got {sent} 200s, the mock stored {stored} (lost: {-extra}){why}")
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
    written = _written(mock)
    if source == "counters" and written is not None:
        # An older mock says only how many rows it wrote in all: the 200s must be among them.
        rows_written = written - (_written(base) or 0)
        acked = sum(stats.accepted.values())
        if rows_written < acked:
            differences.append(
                f"the harness got {acked} 200s, the mock's store wrote {rows_written} rows "
                f"(lost: {acked - rows_written})"
            )
    merges = _check_merges(stats, mock, base, differences)
    return {
        "ok": not differences,
        "differences": differences,
        "endpoints": rows,
        "source": source,
        "merges": merges,
        "mock": {
            **{k: mock.get(k) for k in ("profiles", "merges", "warnings")},
            # The mock's memory caps (this run's share): the report names them, reconciliation counts rows.
            **{k: int(mock[k]) - int(base.get(k) or 0) for k in MEMORY_CAPS if isinstance(mock.get(k), int)},
        },
    }


def _store_error(mock: dict[str, Any]) -> str:
    store = mock.get("store")
    if isinstance(store, dict):
        return str(store.get("error") or store.get("unavailable") or "no error")
    return "no error"


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
        mock = fetch_settled_stats(admin_url)
    except (OSError, urllib.error.URLError, ValueError) as e:
        if isinstance(getattr(e, "reason", e), ConnectionRefusedError):  # nothing listens there any more
            said = f"the mock at {admin_url} is gone (connection refused): what it stored cannot be read"
        elif isinstance(e, urllib.error.HTTPError) and e.code == 404:  # something answers, with no admin API
            said = (
                f"{admin_url} has no mock admin API ({e}): not a loadsim mock? For a collector of your own, "
                f"--mock-admin {NO_MOCK_ADMIN} (nothing is reconciled)"
            )
        else:
            said = f"could not read the mock's stats at {admin_url}: {e}"
        return {"ok": False, "differences": [said], "endpoints": {}}
    return reconcile(stats, mock, baseline)
