"""The mock's memory caps (#15) in the report: a capped ``:memory:`` store keeps counts and digests
but not bodies (``bodies_dropped``), and profiles past ``--max-profiles`` are forgotten
(``profiles_forgotten``). The report says so beside the reconciliation, which still counts stored rows."""

from __future__ import annotations

from typing import Any

from simulator.contract import ENDPOINT_NAMES
from simulator.loadtest.reconcile import reconcile
from simulator.report.html import render_html
from simulator.report.stats import RunStats
from simulator.report.summary import build_summary, summary_markdown

START = 1_800_000_000.0


def mock_stats(**extra: Any) -> dict[str, Any]:
    """A mock's ``/_admin/stats`` that stored nothing (as the empty run sent nothing), with ``extra``."""
    return {"stored": {ep: {"count": 0, "digest": 0} for ep in ENDPOINT_NAMES}, "profiles": 9, "merges": 0, **extra}


def summary_of(mock: dict[str, Any], baseline: dict[str, Any] | None = None) -> tuple[dict[str, Any], RunStats]:
    stats = RunStats()
    rec = reconcile(stats, mock, baseline)
    summary = build_summary(
        stats=stats,
        scenario="caps",
        seed=1,
        target={"kind": "mock", "host": "http://127.0.0.1:9"},
        model="closed",
        started=START,
        ended=START + 10,
        workers=1,
        reconciliation=rec,
        verdicts=[],
    )
    return summary, stats


BODIES = "the mock kept counts and digests but not the bodies of 1,234 requests (its :memory: store is capped"
PROFILES = "the mock forgot 56 profiles, oldest first (past its --max-profiles)"


def test_memory_caps_are_named_beside_a_reconciliation_that_stays_ok() -> None:
    summary, stats = summary_of(mock_stats(bodies_dropped=1234, profiles_forgotten=56))
    rec = summary["reconciliation"]
    assert rec["ok"], rec
    assert rec["mock"]["bodies_dropped"] == 1234 and rec["mock"]["profiles_forgotten"] == 56
    md = summary_markdown(summary)
    assert "Reconciliation: OK" in md and BODIES in md and PROFILES in md
    page = render_html(summary, stats)
    assert BODIES in page and PROFILES in page


def test_no_note_when_nothing_was_dropped_and_a_shared_mock_counts_only_this_run() -> None:
    summary, stats = summary_of(mock_stats(bodies_dropped=0, profiles_forgotten=0))
    assert "kept counts and digests" not in summary_markdown(summary) + render_html(summary, stats)
    assert "forgot" not in summary_markdown(summary)
    shared, _ = summary_of(mock_stats(bodies_dropped=1300, profiles_forgotten=56), mock_stats(bodies_dropped=66))
    assert shared["reconciliation"]["mock"]["bodies_dropped"] == 1234
    assert BODIES in summary_markdown(shared)
