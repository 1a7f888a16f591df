"""Ctrl-C and SIGTERM held while ``loadsim`` starts: noted, not raised, until the CLI can answer them.

A KeyboardInterrupt raised while loadsim imports what it needs is raised inside those imports:
in orjson's module init it is a segmentation fault (the init does not check the imports it makes),
in gevent's patching of threading it is "cannot release un-acquired lock", in the half-imported
Locust glue it can be lost and the run goes on. So the entry point's first line holds both signals
(this module imports nothing else), and the CLI answers a held one once its imports are done.
"""

from __future__ import annotations

import signal

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: What each signal did before hold(): release() puts it back.
_before: dict[int, object] = {}
#: The signals that came while held, in order.
_noted: list[int] = []


def _note(signum: int, frame: object) -> None:
    _noted.append(signum)


def hold() -> None:
    for sig in _SIGNALS:
        previous = signal.signal(sig, _note)
        if previous is not _note:
            _before[sig] = previous


def holding() -> bool:
    """True while SIGINT is held: a module that would take it (the Locust glue) leaves it to the CLI."""
    return signal.getsignal(signal.SIGINT) is _note


def release() -> int | None:
    """Give both signals back what they did before hold(); the first one that came meanwhile, if any
    (one that was ignored before, as bash ignores SIGINT for a background job, does not count)."""
    if not holding():
        return None
    for sig, previous in _before.items():
        signal.signal(sig, previous)  # type: ignore[arg-type]  # what signal.signal returned
    came = [sig for sig in _noted if _before.get(sig) is not signal.SIG_IGN]
    _noted.clear()
    return came[0] if came else None
