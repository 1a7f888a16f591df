"""The web UI's start form waits for the workers the master was asked for (``webui._missing_workers``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from locust.runners import MasterRunner

from simulator.loadtest.webui import _missing_workers


class _Master(MasterRunner):  # type: ignore[misc]
    """A master with ``count`` workers connected, and nothing else."""

    greenlet = None  # Runner.__del__ reads it

    def __init__(self, count: int) -> None:
        self.count = count

    @property
    def worker_count(self) -> int:
        return self.count


def _environment(runner: Any, **opts: Any) -> Any:
    return SimpleNamespace(runner=runner, parsed_options=SimpleNamespace(**opts))


@pytest.mark.parametrize(
    ("connected", "opts", "message"),
    [
        (0, {"processes": 2, "expect_workers": 2}, "0 of 2 workers connected (--processes 2): wait until all have"),
        (1, {"processes": 2, "expect_workers": 2}, "1 of 2 workers connected (--processes 2): wait until all have"),
        (3, {"processes": None, "expect_workers": 8}, "3 of 8 workers connected (--expect-workers 8): wait"),
        (0, {"processes": None, "expect_workers": 1}, "0 of 1 worker connected: wait until all have"),
    ],
)
def test_a_start_with_fewer_workers_than_asked_for_waits(connected: int, opts: dict[str, Any], message: str) -> None:
    problem = _missing_workers(_environment(_Master(connected), **opts))
    assert problem is not None and problem.startswith(message) and "\n" not in problem, problem


@pytest.mark.parametrize(("connected", "expected"), [(2, 2), (3, 2), (1, 1)])
def test_a_start_with_the_workers_asked_for_goes_ahead(connected: int, expected: int) -> None:
    assert _missing_workers(_environment(_Master(connected), processes=expected, expect_workers=expected)) is None


def test_a_single_process_has_no_workers_to_wait_for() -> None:
    local = SimpleNamespace(worker_count=0)  # a LocalRunner's place: not a master
    assert _missing_workers(_environment(local, processes=None, expect_workers=1)) is None
