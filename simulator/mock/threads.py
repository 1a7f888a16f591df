"""OS threads and locks that stay OS-level where gevent monkey-patched ``threading``.

Importing Locust patches ``threading`` so that a ``Thread`` is a greenlet. The mock's event loop
(uvloop or asyncio) blocks in epoll without ever yielding to gevent's hub, so run as a greenlet
it would freeze the whole process; the store's checkpoint thread would never run and ``close()``
would wait for it forever. Everything here uses the original ``_thread`` primitives instead.
"""

from __future__ import annotations

import _thread
from collections.abc import Callable
from typing import Any

__all__ = ["OSThread", "get_ident", "lock"]


def _original(name: str) -> Any:
    try:
        from gevent import monkey
    except ImportError:
        return getattr(_thread, name)
    return monkey.get_original("_thread", name)


_start_new_thread = _original("start_new_thread")
#: A plain OS lock (``acquire(timeout=...)`` blocks the OS thread, never switches greenlets).
lock: Callable[[], Any] = _original("allocate_lock")
#: The OS thread id (gevent's patched ``get_ident`` returns a greenlet's).
get_ident: Callable[[], int] = _original("get_ident")


class OSThread:
    """Runs ``target()`` in a new OS thread; ``join()`` waits for it to return."""

    def __init__(self, target: Callable[[], None]) -> None:
        self._target = target
        self._done = lock()
        self._done.acquire()
        self.ident: int | None = None
        self._started = False

    def start(self) -> None:
        self._started = True
        _start_new_thread(self._run, ())

    def _run(self) -> None:
        self.ident = get_ident()
        try:
            self._target()
        finally:
            self._done.release()

    def join(self, timeout: float = -1) -> bool:
        """True once the thread has finished (at once if it never started)."""
        if not self._started:
            return True
        if self._done.acquire(timeout=timeout):
            self._done.release()
            return True
        return False

    def is_alive(self) -> bool:
        if not self._started or not self._done.acquire(blocking=False):
            return self._started
        self._done.release()
        return False
