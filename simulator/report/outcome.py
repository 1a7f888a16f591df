"""A run's outcome in words, read from its summary: PASSED, FAILED or INTERRUPTED, how far an
interrupted run got, how much of its dataset a replay sent, the mock's warnings and what its memory
caps cost, as sentences. Both
summary.md and the page say them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MOCK_WARNINGS", "interruption", "mock_caps", "mock_warnings", "replay_line", "replay_short", "result_of"]


def interruption(summary: Mapping[str, Any]) -> str:
    """ "INTERRUPTED after 10 s of 60 s planned" for an interrupted run, "" for any other."""
    if not summary.get("interrupted"):
        return ""
    timing = summary["timing"]
    planned = timing.get("planned_s")
    return f"INTERRUPTED after {timing['duration_s']:.0f} s" + (f" of {planned:.0f} s planned" if planned else "")


#: The mock's warnings (``stats()["warnings"]``) in words: what each means for the traffic sent.
#: Each counts requests (``{s}``: the plural's "s").
MOCK_WARNINGS: dict[str, str] = {
    "unknown_session": (
        "identify or event request{s} for a session the mock never saw start (no externalIds with that sid)"
    ),
    "shared_session": "request{s} with a session id another user id had sent",
    "unknown_identity": "event{s} identifying by an email or phone no identify ever named",
    "added_at_future": "request{s} with added_at more than five minutes in the future",
    "added_at_stale": "request{s} with added_at more than two days in the past",
}


def mock_warnings(reconciliation: Mapping[str, Any] | None) -> list[str]:
    """The mock's warnings as sentences with their counts, e.g. "35 identify or event requests for a
    session the mock never saw start"."""
    raw = ((reconciliation or {}).get("mock") or {}).get("warnings") or {}
    if not isinstance(raw, Mapping):
        return []
    return [
        f"{n} " + MOCK_WARNINGS.get(k, k.replace("_", " ")).replace("{s}", "" if n == 1 else "s")
        for k, n in sorted(raw.items(), key=lambda kv: -kv[1])
        if n
    ]


def mock_caps(reconciliation: Mapping[str, Any] | None) -> list[str]:
    """What the mock's memory caps cost this run, in words (nothing when they cost nothing): the
    stored rows reconciliation counts are whole either way."""
    mock = (reconciliation or {}).get("mock") or {}
    if not isinstance(mock, Mapping):
        return []
    out = []
    bodies, profiles = mock.get("bodies_dropped"), mock.get("profiles_forgotten")
    if isinstance(bodies, int) and bodies > 0:
        out.append(
            f"the mock kept counts and digests but not the bodies of {bodies:,} requests (its :memory: store "
            "is capped: raise loadsim mock --memory-store-cap, or give it a file --store, to keep them)"
        )
    if isinstance(profiles, int) and profiles > 0:
        out.append(f"the mock forgot {profiles:,} profiles, oldest first (past its --max-profiles)")
    return out


def result_of(summary: Mapping[str, Any]) -> str:
    """PASSED, FAILED or INTERRUPTED (a summary written before ``result`` existed: from ``passed``)."""
    return str(summary.get("result") or ("PASSED" if summary.get("passed") else "FAILED"))


def replay_line(replayed: Mapping[str, Any]) -> str:
    """ "sent 7 of the dataset's 463 requests; the reader stopped: ..." or the note of a replay cut short
    on purpose ("--run-time ended the replay after ..."): summary.md and the page."""
    if replayed.get("note"):
        return str(replayed["note"])
    line = f"sent {replayed['sent']} of the dataset's {replayed['dataset_requests']} requests"
    if replayed.get("cut_off"):
        line += f", {replayed['cut_off']} of them cut off at the stop"
    if replayed.get("problem"):
        line += f"; the reader stopped: {replayed['problem']}"
    return line


def replay_short(replayed: Mapping[str, Any]) -> bool:
    """A replay that did not get every request of its dataset answered (sent short, or cut off at the stop)."""
    return int(replayed["sent"]) - int(replayed.get("cut_off") or 0) < int(replayed["dataset_requests"])


def stage_span(row: Mapping[str, Any]) -> str:
    """An open-model stage's seconds on the scheduler's clock, as the report shows them: ``6-14 s``."""
    return f"{row['from_s']:g}-{row['to_s']:g} s"
