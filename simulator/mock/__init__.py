"""The mock CustomerLabs collector: the default target of every run and the test double of tests.

In a test or a script::

    with MockServer(faults=FaultConfig.from_flags(error_rate="0.01:503")) as mock:
        ...  # send to mock.url
        assert mock.stats()["accepted"]["events"] == n

From the shell: ``loadsim mock --port 8080`` or ``python -m simulator.mock --port 0``; the first
line printed is ``loadsim mock listening on http://HOST:PORT``.

``digest(body)`` is the reconciliation hash shared with the load runner: the stats report, per
endpoint, the sum modulo 2**64 of ``digest`` over the raw bodies accepted (see ``state.digest``).
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
import time
from types import TracebackType
from typing import Any

from simulator.digest import DIGEST_MASK, combine, digest, digest_all
from simulator.mock import threads
from simulator.mock.admin import ADMIN_TOKEN_ENV, admin_headers, is_loopback
from simulator.mock.faults import EndpointFaults, FaultConfig, FaultError, Latency
from simulator.mock.limits import Limits
from simulator.mock.server import App
from simulator.mock.state import MAX_PROFILES
from simulator.mock.store import MAX_MEMORY_BYTES

__all__ = [
    "ADMIN_TOKEN_ENV",
    "DIGEST_MASK",
    "LISTENING_PREFIX",
    "EndpointFaults",
    "FaultConfig",
    "FaultError",
    "Latency",
    "Limits",
    "MockServer",
    "admin_headers",
    "combine",
    "digest",
    "digest_all",
    "serve",
]

#: The first line ``serve`` prints; a parent process reads the URL after it.
LISTENING_PREFIX = "loadsim mock listening on "
#: Seconds a stopping server waits for answers already written to reach their clients.
DRAIN_TIMEOUT_S = 2.0


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class MockServer:
    """The mock collector on ``host:port`` (port 0: a free port; read ``url``)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        store: str = ":memory:",
        faults: FaultConfig | None = None,
        seed: int = 0,
        sync: bool = False,
        limits: Limits | None = None,
        admin_token: str | None = None,
        admin_port: int | None = None,
        memory_store_cap: int = MAX_MEMORY_BYTES,
        max_profiles: int = MAX_PROFILES,
    ) -> None:
        for flag, value in (("--port", port), ("--admin-port", admin_port)):
            # The socket layer keeps the low 16 bits: 65537 would listen on port 1 without a word.
            if value is not None and not 0 <= value <= 65535:
                raise ValueError(f"{flag} {value}: a port is between 0 and 65535 (0 picks a free one)")
        if not is_loopback(host) and not admin_token:
            raise ValueError(
                f"binding {host} exposes the admin API (reset, faults, every stored body) beyond this machine: "
                f"set --admin-token TOKEN (or {ADMIN_TOKEN_ENV}), or bind 127.0.0.1"
            )
        self.host = host
        self.port = port
        self.store_path = store
        self.faults = faults
        self.seed = seed
        #: Commit every accepted body before answering it (nothing acknowledged lost even on SIGKILL).
        self.sync = sync
        self.limits = limits or Limits()
        self.admin_token = admin_token or None
        #: The admin API's own port (0: a free one); ``None``: on the tracking port.
        self.admin_port = admin_port
        self.memory_store_cap = memory_store_cap
        self.max_profiles = max_profiles
        self.app: App | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threads.OSThread | None = None
        self._stopped = False

    @property
    def admin_url(self) -> str:
        """Where the admin API answers: ``url``, or the ``--admin-port`` one."""
        if self.app is None or self.app.admin_url is None:
            raise RuntimeError("the mock is not listening yet: call start() first (or use `with MockServer()`)")
        return self.app.admin_url

    @property
    def lost(self) -> int:
        """Acknowledged rows the store could not write before it closed (0 unless it was failing at stop)."""
        return 0 if self.app is None else self.app.store.lost

    @property
    def url(self) -> str:
        if self.app is None or self.app.url is None:
            raise RuntimeError("the mock is not listening yet: call start() first (or use `with MockServer()`)")
        return self.app.url

    # --- lifecycle ------------------------------------------------------------------------------

    def _listen(self) -> None:
        self._loop = loop = _new_loop()
        asyncio.set_event_loop(loop)
        self.app = app = App(
            store=self.store_path,
            faults=self.faults,
            seed=self.seed,
            sync=self.sync,
            limits=self.limits,
            admin_token=self.admin_token,
            admin_port=self.admin_port,
            memory_store_cap=self.memory_store_cap,
            max_profiles=self.max_profiles,
        )
        app.start_flushing(loop)
        try:
            host, port = loop.run_until_complete(app.listen(self.host, self.port))
            if self.admin_port is not None:
                ahost, aport = loop.run_until_complete(app.listen_admin(self.host))
                self.admin_port = aport
                app.admin_url = f"http://{f'[{ahost}]' if ':' in ahost else ahost}:{aport}"
        except BaseException:
            app.store.close()
            loop.close()
            raise
        self.port = port
        shown = f"[{host}]" if ":" in host else host
        app.url = f"http://{shown}:{port}"
        if app.admin_url is None:
            app.admin_url = app.url

    def _shutdown(self) -> None:
        """On the loop's thread, after the loop stopped: close, drain, flush."""
        loop, app = self._loop, self.app
        assert loop is not None and app is not None
        app.close_listener()
        for conn in list(app.connections):
            conn._close()

        async def drain() -> None:
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while app.connections and time.monotonic() < deadline:
                await asyncio.sleep(0.01)

        loop.run_until_complete(drain())
        app.store.close()
        loop.close()

    def start(self) -> None:
        """Listen, and serve from a background OS thread with its own event loop.

        An OS thread even where gevent patched ``threading`` (Locust does): see ``threads``.
        """
        if self._thread is not None:
            raise RuntimeError("this MockServer was already started; create a new one")
        ready = threads.lock()
        ready.acquire()
        error: list[BaseException] = []

        def run() -> None:
            try:
                self._listen()
            except BaseException as exc:
                error.append(exc)
                ready.release()
                return
            ready.release()
            assert self._loop is not None
            self._loop.run_forever()
            self._shutdown()

        self._thread = threads.OSThread(run)
        self._thread.start()
        ready.acquire()
        if error:
            self._thread.join()
            raise error[0]

    def stop(self) -> None:
        """Stop serving, let written answers reach their clients, flush the store. Idempotent."""
        if self._stopped or self._thread is None or self._loop is None or not self._thread.is_alive():
            return
        self._stopped = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()

    def run(self) -> int:
        """Serve in the foreground until SIGINT or SIGTERM (what ``loadsim mock`` does); returns
        ``lost``, the acknowledged rows the store could not write before stopping."""
        self._listen()
        loop = self._loop
        assert loop is not None
        # This process is the mock alone: its state makes no reference cycles, and the default
        # GC thresholds would rescan every profile and session thousands of times a minute.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, loop.stop)
        print(LISTENING_PREFIX + self.url, flush=True)
        if self.admin_port is not None:
            print(f"loadsim mock: admin API on {self.admin_url}/_admin/ (not on the tracking port)", file=sys.stderr)
        try:
            loop.run_forever()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            stats = self.app.stats() if self.app else {}
            self._shutdown()
            self._stopped = True
            print(
                f"loadsim mock stopped: accepted {stats.get('accepted')}, rejected {stats.get('rejected')}, "
                f"store {self.store_path}" + (f", {self.lost} acknowledged rows lost" if self.lost else ""),
                file=sys.stderr,
                flush=True,
            )
        return self.lost

    def stats(self) -> dict[str, Any]:
        """The same JSON as ``GET /_admin/stats``, read on the server's loop so counters agree."""
        app, loop, thread = self.app, self._loop, self._thread
        if app is None:
            raise RuntimeError("the mock was never started")
        if loop is None or not loop.is_running() or thread is None or threads.get_ident() == thread.ident:
            return app.stats()
        done = threads.lock()
        done.acquire()
        box: list[dict[str, Any]] = []

        def read() -> None:
            try:
                box.append(app.stats())
            finally:
                done.release()

        loop.call_soon_threadsafe(read)
        if not done.acquire(timeout=10):
            raise TimeoutError("the mock did not answer within 10 s; is its loop blocked?")
        return box[0]

    def __enter__(self) -> MockServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    store: str = "loadsim-mock.sqlite3",
    faults: FaultConfig | None = None,
    seed: int = 0,
    sync: bool = False,
    limits: Limits | None = None,
    admin_token: str | None = None,
    admin_port: int | None = None,
    memory_store_cap: int = MAX_MEMORY_BYTES,
    max_profiles: int = MAX_PROFILES,
) -> int:
    """Run the mock in the foreground; prints ``loadsim mock listening on URL`` first, stops on
    SIGINT/SIGTERM after flushing the store. Returns the acknowledged rows the store could not
    write before stopping (0 but when it was still failing then; the log says so too)."""
    return MockServer(
        host=host,
        port=port,
        store=store,
        faults=faults,
        seed=seed,
        sync=sync,
        limits=limits,
        admin_token=admin_token,
        admin_port=admin_port,
        memory_store_cap=memory_store_cap,
        max_profiles=max_profiles,
    ).run()
