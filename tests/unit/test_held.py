"""simulator.held: a stop that comes while `loadsim` imports is kept for the CLI, and only then answered."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from simulator import held


@pytest.fixture(autouse=True)
def _handlers_put_back() -> Iterator[None]:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    held.release()
    for sig, handler in before.items():
        signal.signal(sig, handler)


def test_a_signal_while_held_is_kept_and_the_handlers_come_back() -> None:
    # Whatever this process had (a test before may have run the CLI, which takes SIGTERM), not SIG_DFL.
    mine = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    held.hold()
    assert held.holding()
    os.kill(os.getpid(), signal.SIGTERM)  # would end this process, were it not held
    os.kill(os.getpid(), signal.SIGINT)
    assert held.release() == signal.SIGTERM  # the first that came
    assert not held.holding()
    assert {sig: signal.getsignal(sig) for sig in mine} == mine
    assert held.release() is None  # answered once


def test_a_signal_ignored_before_stays_ignored() -> None:
    """bash starts a script's background job with SIGINT ignored: a Ctrl-C meant for the script is not its."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    held.hold()
    os.kill(os.getpid(), signal.SIGINT)
    assert held.release() is None
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
