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


def test_what_the_cli_takes_is_in_place_at_once_and_an_ignored_signal_then_counts() -> None:
    """A run takes SIGINT back (a background `loadsim run &` stops on kill -INT): the SIGINT that came
    while held is then its. Before: dropped as ignored, and the run went on for its full run time."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    held.hold()
    os.kill(os.getpid(), signal.SIGINT)
    takes = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_IGN}
    assert held.release(takes) == signal.SIGINT
    assert {sig: signal.getsignal(sig) for sig in takes} == takes
    # Not held (the CLI called in-process): the handlers still go in, and nothing came.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    assert held.release(takes) is None
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
