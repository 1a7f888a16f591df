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
#: What each signal did before hold(): release() puts it back, unless told what to do instead.
_before: dict[int, object] = {}
#: The signals that came while held, in order.
_noted: list[int] = []
_held = False


def _note(signum: int, frame: object) -> None:
    _noted.append(signum)


def hold() -> None:
    global _held
    for sig in _SIGNALS:
        previous = signal.signal(sig, _note)
        if previous is not _note:
            _before[sig] = previous
    _held = True


def holding() -> bool:
    """True while held: a module that would take SIGINT (the Locust glue) leaves it to the CLI."""
    return _held


def release(then: dict[int, object] | None = None) -> int | None:
    """End the hold: each signal does what ``then`` says, or else what it did before hold(), with no
    moment between (a SIGTERM there would kill with no word). Returns the first signal that came
    meanwhile and is not ignored now: bash starts a script's background job with SIGINT ignored, so a
    Ctrl-C is not its, unless the command takes SIGINT back (a run stops on `kill -INT`)."""
    global _held
    now = {**(_before if _held else {}), **(then or {})}  # not held (the CLI called in-process): just then
    for sig, handler in now.items():
        signal.signal(sig, handler)  # type: ignore[arg-type]  # a handler signal.signal gave, or the CLI's
    came = [sig for sig in _noted if now.get(sig) is not signal.SIG_IGN] if _held else []
    _held = False
    _noted.clear()
    return came[0] if came else None
