"""The mock collector's HTTP server: the app behind the connections (``protocol.py``), uvloop when available.

Why this stack (measured for issue #5 with wrk on one core, same events body): a bare asyncio +
httptools + uvloop server ~90k requests/s, uvicorn with a bare ASGI app ~40k, aiohttp ~30k,
Starlette ~27k. The target is >= 27k *with* validation, stitching and storage, so there is no
room for a framework; see ``bench/bench_mock.py`` for the figure of this server.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

import orjson

from simulator import contract
from simulator.digest import DIGEST_MASK, digest
from simulator.mock import admin
from simulator.mock.faults import EndpointFaults, FaultConfig, FaultInjector
from simulator.mock.limits import Limits
from simulator.mock.protocol import HttpProtocol, error_json, response
from simulator.mock.state import MAX_PROFILES, CollectorState
from simulator.mock.store import FLUSH_INTERVAL_S, MAX_MEMORY_BYTES, MAX_REJECTED_PATH, Store
from simulator.mock.validation import fast_checks

#: Retry-After of an outage's 429 and 503: the default fault's (1 s), as when the harness played one
#: by replacing the faults.
_OUTAGE_RETRY_AFTER = round(EndpointFaults().retry_after)

__all__ = ["MAX_BODY", "App", "HttpProtocol", "response"]

log = logging.getLogger(__name__)

#: Larger bodies get a 413 by default (the reference names no limit; 1 MiB is far above any real body).
MAX_BODY = Limits().max_body
#: Paths longer than this are not kept in the route cache (a scan of long paths must not grow it).
MAX_CACHED_PATH = 256
#: Distinct webhook sources counted by name in the stats; the rest are counted under OTHER_SOURCES.
MAX_WEBHOOK_SOURCES = 1000
OTHER_SOURCES = "(other sources)"
#: Seconds between two sweeps of the connections' timeouts.
SWEEP_INTERVAL_S = 0.5
#: Retry-After of the 503 answered while the store cannot write or keep up.
STORE_RETRY_AFTER_S = 1
_STORE_RETRY_AFTER = b"Retry-After: %d\r\n" % STORE_RETRY_AFTER_S


_OK_EMPTY = response(200)
_OK_EMPTY_CLOSE = response(200, close=True)


def _is_json_type(ct: bytes) -> bool:
    mime = ct.split(b";", 1)[0].strip().lower()
    return mime == b"application/json" or (mime.startswith(b"application/") and mime.endswith(b"+json"))


class App:
    """Everything shared by the connections: state, store, faults and the request handler."""

    def __init__(
        self,
        *,
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
        self.limits = limits or Limits()
        # Read on every request: plain attributes, one lookup each.
        self.max_request_line = self.limits.max_request_line
        self.max_header_bytes = self.limits.max_header_bytes
        self.max_body = self.limits.max_body
        #: Every admin call but /health needs ``Authorization: Bearer`` this (see ``admin.guard``).
        self.admin_token = admin_token or None
        #: The admin API's own port (0: a free one); ``None``: it shares the tracking port.
        self.admin_port = admin_port
        self.admin_server: asyncio.AbstractServer | None = None
        #: ``http://host:port`` of the admin API once listening.
        self.admin_url: str | None = None
        #: The address bound (a Host header naming it is this mock's).
        self.bind_host = "127.0.0.1"
        self.state = CollectorState(max_profiles=max_profiles)
        self.store = Store(store, max_memory_bytes=memory_store_cap, sync=sync)
        # A store from an earlier run keeps its rows; this run's profiles are numbered after them.
        self.state.number_after(self.store.max_profile_id)
        #: Commit each accepted body before answering 200 (``--sync``): nothing acknowledged is lost
        #: even on SIGKILL, at the cost of one COMMIT per request.
        self.sync = sync
        self.seed = seed
        self.injector = FaultInjector(faults, seed=seed)
        self.fast = fast_checks()
        self.connections: set[HttpProtocol] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        #: ``http://host:port`` once listening.
        self.url: str | None = None
        self._ct_cache: dict[bytes, bool] = {}
        self._routes: dict[bytes, tuple[str, str | None]] = {}
        #: The listening server; ``None`` while refusing connections (see ``refuse``).
        self.server: asyncio.AbstractServer | None = None
        #: ``time.monotonic()`` when a refusal ends; ``None`` when not refusing.
        self.refusing_until: float | None = None
        self._bind: tuple[str, int] | None = None
        self._reopen: asyncio.TimerHandle | None = None
        self._relisten: asyncio.Task[None] | None = None
        #: Connections served at once before the oldest idle or slow ones are shed (see ``shed``).
        self.max_connections = self.limits.connection_budget()
        #: Connections closed to make room, in all, and since the last log line.
        self.shed_total = 0
        self._shed_unlogged = 0
        self._shed_logged_at = 0.0

    async def listen(self, host: str, port: int) -> tuple[str, int]:
        """Listen on ``host:port`` (port 0: a free one); returns the address bound."""
        loop = asyncio.get_running_loop()
        self.bind_host = host
        admin_ok = self.admin_port is None
        # SO_REUSEADDR so that the port can be bound again at once after a refusal.
        self.server = await loop.create_server(
            lambda: HttpProtocol(self, admin_ok=admin_ok), host, port, backlog=2048, reuse_address=True
        )
        bound = self.server.sockets[0].getsockname()[:2]
        self._bind = (host, bound[1])
        return bound[0], bound[1]

    async def listen_admin(self, host: str) -> tuple[str, int]:
        """Listen for the admin API alone on ``host:admin_port`` (``--admin-port``)."""
        assert self.admin_port is not None
        loop = asyncio.get_running_loop()
        self.admin_server = await loop.create_server(
            lambda: HttpProtocol(self, admin_ok=True, admin_only=True), host, self.admin_port, reuse_address=True
        )
        bound = self.admin_server.sockets[0].getsockname()[:2]
        return bound[0], bound[1]

    def refuse(self, seconds: float) -> float:
        """Refuse connections for ``seconds``, as a collector that is down: the listening socket
        is closed (connects get ECONNREFUSED) and idle keep-alive connections are closed; a
        request already read is still answered, then its connection closes, so nothing
        acknowledged is lost and nothing half-processed is stored twice. Afterwards the mock
        listens again on the same port. Asked again while refusing, the later end wins.

        Takes effect on the next turn of the loop, so the answer to the admin call that asked
        for it goes out first. Returns the seconds until the mock listens again.
        """
        loop = self.loop
        assert loop is not None and self._bind is not None, "refuse() needs a listening App"
        end = time.monotonic() + seconds
        if self.refusing_until is not None:
            if end > self.refusing_until:
                self.refusing_until = end
                if self._reopen is not None:  # else it is already trying to listen again
                    self._reopen.cancel()
                    self._reopen = loop.call_later(seconds, self._listen_again)
            return self.refusing_until - time.monotonic()
        self.refusing_until = end
        self.state.faults["refusals"] += 1
        loop.call_soon(self._stop_accepting)
        self._reopen = loop.call_later(seconds, self._listen_again)
        print(
            f"loadsim mock: refusing connections for {seconds:g} s (POST /_admin/refuse)", file=sys.stderr, flush=True
        )
        return seconds

    def _stop_accepting(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for conn in list(self.connections):
            conn.close_when_idle()

    def _listen_again(self) -> None:
        self._reopen = None
        assert self.loop is not None
        self._relisten = self.loop.create_task(self._listen_again_async())

    async def _listen_again_async(self) -> None:
        assert self._bind is not None and self.loop is not None
        host, port = self._bind
        try:
            await self.listen(host, port)
        except OSError as exc:
            # Rare: a client's ephemeral port (or a self-connect to the closed port) holds it.
            print(
                f"loadsim mock: cannot listen again on {host}:{port} yet ({exc.strerror or exc}); retrying in 0.25 s",
                file=sys.stderr,
                flush=True,
            )
            self._reopen = self.loop.call_later(0.25, self._listen_again)
            return
        self.refusing_until = None
        print(f"loadsim mock: listening again on {host}:{port}", file=sys.stderr, flush=True)

    def close_listener(self) -> None:
        """Stop listening for good (shutdown), including a refusal's pending return."""
        if self._reopen is not None:
            self._reopen.cancel()
            self._reopen = None
        if self._relisten is not None:
            self._relisten.cancel()
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.admin_server is not None:
            self.admin_server.close()
            self.admin_server = None

    def start_flushing(self, loop: asyncio.AbstractEventLoop) -> None:
        """Write the store's pending rows every ``FLUSH_INTERVAL_S`` on ``loop`` (see ``store``)."""
        self.loop = loop

        def tick(due: float) -> None:
            # A fixed cadence (not "interval after the last flush ended") bounds the crash window,
            # and re-arming in ``finally`` keeps it even if a flush raised something unforeseen.
            try:
                self.store.flush()
            except Exception:
                log.exception("loadsim mock: the store's flush failed unexpectedly; retrying")
            finally:
                now = loop.time()
                due = max(due + FLUSH_INTERVAL_S, now + FLUSH_INTERVAL_S / 5)
                loop.call_at(due, tick, due)

        first = loop.time() + FLUSH_INTERVAL_S
        loop.call_at(first, tick, first)

        def sweep() -> None:
            # One timer for every connection's timeouts, not one per request: cheap at any rate.
            try:
                now = time.monotonic()
                for conn in list(self.connections):
                    conn.check_timeouts(now)
            finally:
                loop.call_later(SWEEP_INTERVAL_S, sweep)

        loop.call_later(SWEEP_INTERVAL_S, sweep)

    def shed(self, newcomer: HttpProtocol) -> None:
        """Over ``max_connections`` (the fd limit is near): close the oldest idle or slow connections,
        so that clients keep being served; refuse the newcomer only if none is idle. Logs once a second."""
        idle = sorted(
            (since, id(c), c) for c in self.connections if c is not newcomer and (since := c.idle_since()) is not None
        )
        room = max(1, self.max_connections // 16)  # a batch, so that this sort is rare
        closed = [c for _, _, c in idle[:room]]
        for conn in closed:
            conn._close()
            self.connections.discard(conn)  # its fd is released now; connection_lost follows
        if not closed:
            newcomer._close()
            self.connections.discard(newcomer)
        count = max(1, len(closed))
        self.shed_total += count
        self._shed_unlogged += count
        now = time.monotonic()
        if now - self._shed_logged_at >= 1.0:
            print(
                f"loadsim mock: {self.max_connections} connections reached (file descriptor limit or "
                f"--max-connections): closed {self._shed_unlogged} "
                + ("of the oldest idle or slow connections" if closed else "new connections, none being idle"),
                file=sys.stderr,
                flush=True,
            )
            self._shed_logged_at, self._shed_unlogged = now, 0

    def refuse_request(self, url: bytes, status: int, reason: str, message: str) -> None:
        """Count and store a request refused before it was read whole (414, 431, 413, 408)."""
        path = url.partition(b"?")[0][:MAX_REJECTED_PATH].decode("latin-1")
        endpoint = None if status == 414 else contract.endpoint_for_path(path)
        self.state.requests += 1
        self.state.reject(endpoint, reason)
        self.store.add_rejected(endpoint, time.time(), status, reason, message, path, b"")

    def set_faults(self, config: FaultConfig) -> None:
        self.injector.set(config)

    def outage(self, status: int, seconds: float) -> None:
        """Answer ``status`` to every tracking request for ``seconds`` (``FaultInjector.outage``)."""
        self.state.faults["outages"] += 1
        self.injector.outage(status, time.monotonic() + seconds)
        print(f"loadsim mock: answering {status} for {seconds:g} s (POST /_admin/outage)", file=sys.stderr, flush=True)

    def reset(self) -> None:
        """Forget everything; raises ``sqlite3.Error`` (forgetting nothing) when the store cannot write."""
        self.store.reset()
        self.state.reset()
        old = self.injector
        self.injector = FaultInjector(old.config, seed=self.seed)
        if old.outage_until is not None:  # an outage is a fault, kept as the configuration is
            self.injector.outage(old.outage_status, old.outage_until)

    def stats(self) -> dict[str, Any]:
        out = self.state.stats()
        store = self.store
        # What the store has durably committed (counted after each COMMIT): reconciliation's ground truth.
        out["stored"] = {
            ep: {"count": store.stored_count[ep], "digest": store.stored_digest[ep]} for ep in store.stored_count
        }
        out["store"] = {
            "path": store.path,
            "written": store.written,
            "pending": store.pending,
            "error": store.error,
            "unavailable": store.unavailable(),
            "rejected_not_stored": store.rejected_not_stored,
            "sync": self.sync,
            "memory_bytes": store.memory_bytes,
            "memory_cap_bytes": store.max_memory_bytes,
        }
        # Accepted bodies counted and digested in "stored" but not kept (a :memory: store past its cap).
        out["bodies_dropped"] = store.bodies_dropped
        out["connections"] = len(self.connections)
        until = self.refusing_until
        out["refusing_for_s"] = 0.0 if until is None else round(max(0.0, until - time.monotonic()), 3)
        until = self.injector.outage_until
        out["outage_for_s"] = 0.0 if until is None else round(max(0.0, until - time.monotonic()), 3)
        out["faults_config"] = self.injector.config.to_dict()
        return out

    def _reject(
        self,
        conn: HttpProtocol,
        endpoint: str | None,
        status: int,
        reason: str,
        message: str,
        path: str,
        body: bytes,
        *,
        fields: tuple[str, ...] = (),
        headers: bytes = b"",
        now: float,
        delay: float = 0.0,
    ) -> None:
        self.state.reject(endpoint, reason, fields)
        self.store.add_rejected(endpoint, now, status, reason, message, path, body)
        conn.send(response(status, error_json(message), headers=headers, close=not conn.keep_alive), delay)

    def handle(
        self,
        conn: HttpProtocol,
        method: bytes,
        url: bytes,
        content_type: bytes | None,
        user_agent: bytes | None,
        body: bytes,
    ) -> None:
        """Answer one complete request on ``conn`` (the hot path: keep it flat)."""
        st = self.state
        now = time.time()
        path_b, _, query = url.partition(b"?")
        route = self._routes.get(path_b)
        if route is None:
            path = path_b.decode("latin-1")
            route = (path, contract.endpoint_for_path(path))
            # A few webhook sources; never grow on a path scan, never keep a long path.
            if len(self._routes) < 4096 and len(path_b) <= MAX_CACHED_PATH:
                self._routes[path_b] = route
        path, endpoint = route
        if endpoint is None or conn.admin_only:
            if (path.startswith("/_admin/") or path == "/_admin") and conn.admin_ok:
                status, payload, extra = admin.handle(
                    self,
                    method.decode("latin-1"),
                    path,
                    query,
                    body,
                    content_type=content_type,
                    host=conn._host,
                    origin=conn._origin,
                    auth=conn._auth,
                )
                conn.send(response(status, payload, headers=extra, close=not conn.keep_alive), 0.0)
                return
            if conn.admin_only:
                only_admin = error_json("this is the admin port: only /_admin/ is served here")
                conn.send(response(404, only_admin, close=not conn.keep_alive), 0.0)
                return
            st.requests += 1
            self._reject(
                conn,
                None,
                404,
                "not_found",
                f"no endpoint at {path[:200]}; the API serves POST /app/externalIds, "
                "POST /app/identify and POST /webhook/{source}",
                path,
                body,
                now=now,
            )
            return
        st.requests += 1
        if method != b"POST":
            self._reject(
                conn,
                endpoint,
                405,
                "method_not_allowed",
                f"{method.decode('latin-1')} is not allowed on {path[:200]}; use POST",
                path,
                body,
                headers=b"Allow: POST\r\n",
                now=now,
            )
            return
        ok_type = self._ct_cache.get(content_type or b"")
        if ok_type is None:
            ok_type = content_type is not None and _is_json_type(content_type)
            if len(self._ct_cache) < 256:
                self._ct_cache[content_type or b""] = ok_type
        if not ok_type:
            shown = "none" if content_type is None else repr(content_type.decode("latin-1")[:100])
            self._reject(
                conn,
                endpoint,
                415,
                "unsupported_media_type",
                f"Content-Type must be application/json, got {shown}",
                path,
                body,
                now=now,
            )
            return
        if not user_agent:
            self._reject(
                conn,
                endpoint,
                400,
                "missing_user_agent",
                "missing CL-User-Agent header: send the device's WebView user agent",
                path,
                body,
                fields=("header:CL-User-Agent",),
                now=now,
            )
            return

        store = self.store
        if store.error is not None or len(store._accepted) >= store.max_pending:
            self._unavailable(conn, endpoint, store.unavailable() or "the store cannot write")
            return

        action, delay = "ok", 0.0
        inj = self.injector
        if inj.active:
            action, delay = inj.decide(endpoint, time.monotonic())
            if action != "ok" and self._fault(conn, endpoint, action, delay):
                return
            if delay > 0:
                st.faults["delayed"] += 1

        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            try:
                body.decode("utf-8")
                message = f"body is not valid JSON: {exc}"
            except UnicodeDecodeError:
                message = "body is not valid UTF-8; send UTF-8 encoded JSON"
            self._reject(conn, endpoint, 400, "invalid_json", message, path, body, fields=("body",), now=now)
            return
        problems = contract.repeated_keys(body, obj)
        if problems or not self.fast[endpoint](obj):
            problems += contract.validate(endpoint, obj)
            if problems:
                self._reject(
                    conn,
                    endpoint,
                    400,
                    "invalid_body",
                    "; ".join(map(str, problems)),
                    path,
                    body,
                    fields=tuple(p.path for p in problems),
                    now=now,
                    delay=delay,
                )
                return

        if endpoint == "events":
            source = path[9:]  # after "/webhook/"
            if action == "drop":
                st.faults["dropped"] += 1
            else:
                p = st.event(obj, now)
                d = digest(body)
                st.accepted["events"] += 1
                st.digests["events"] = (st.digests["events"] + d) & DIGEST_MASK
                ws = st.webhook_sources
                if source in ws:
                    ws[source] += 1
                elif len(ws) < MAX_WEBHOOK_SOURCES and len(source) <= MAX_CACHED_PATH:
                    ws[source] = 1
                else:  # bounded: a scan of made-up sources must not grow the stats
                    ws[OTHER_SOURCES] = ws.get(OTHER_SOURCES, 0) + 1
                self.store.add_accepted("events", now, obj["uid"], obj["sid"], p.id, source, body, d)
                if self.sync and not self._committed(conn, "events", d, source):
                    return
            conn.send(_OK_EMPTY if conn.keep_alive else _OK_EMPTY_CLOSE, delay)
            return
        if action == "drop":
            st.faults["dropped"] += 1
            answer: dict[str, Any] = {
                "user_id": obj["uid"],
                "external_ids": obj.get("external_ids") or {},
                "additional_info": obj.get("additional_info") or {},
            }
            if endpoint == "identify":
                answer["user_traits"] = obj.get("traits") or {}
        else:
            p = st.external_ids(obj) if endpoint == "externalIds" else st.identify(obj, now)
            d = digest(body)
            st.accepted[endpoint] += 1
            st.digests[endpoint] = (st.digests[endpoint] + d) & DIGEST_MASK
            self.store.add_accepted(endpoint, now, obj["uid"], obj["sid"], p.id, None, body, d)
            if self.sync and not self._committed(conn, endpoint, d, None):
                return
            answer = {"user_id": obj["uid"], "external_ids": p.external_ids, "additional_info": p.additional_info}
            if endpoint == "identify":
                answer["user_traits"] = p.traits
        conn.send(response(200, orjson.dumps(answer), close=not conn.keep_alive), delay)

    def _unavailable(self, conn: HttpProtocol, endpoint: str, why: str) -> None:
        """503 with Retry-After: the honest answer of a collector that cannot persist right now."""
        self.state.reject(endpoint, "store_unavailable")
        body = error_json(f"the collector cannot store this request now: {why}; retry after {STORE_RETRY_AFTER_S} s")
        conn.send(response(503, body, headers=_STORE_RETRY_AFTER, close=not conn.keep_alive), 0.0)

    def _committed(self, conn: HttpProtocol, endpoint: str, d: int, source: str | None) -> bool:
        """``--sync``: commit the body just added; if that fails, un-count it and answer 503."""
        store = self.store
        if store.flush():
            return True
        store.discard_last_accepted(d)
        st = self.state
        st.accepted[endpoint] -= 1
        st.digests[endpoint] = (st.digests[endpoint] - d) & DIGEST_MASK
        if source is not None:
            ws = st.webhook_sources
            ws[source if source in ws else OTHER_SOURCES] -= 1
        self._unavailable(conn, endpoint, store.unavailable() or "the store cannot write")
        return False

    def _fault(self, conn: HttpProtocol, endpoint: str, action: str, delay: float) -> bool:
        """Carry out an injected fault; True when the request is finished with."""
        st = self.state
        if action == "reset":
            st.faults["resets"] += 1
            conn.reset()
            return True
        if action == "hold":
            st.faults["held"] += 1
            conn.hold()
            return True
        if action == "error" or action == "outage":
            st.faults["errors"] += 1
            inj = self.injector
            if action == "outage":
                status, retry_after = inj.outage_status, _OUTAGE_RETRY_AFTER
                body = error_json(f"injected outage: {status} (POST /_admin/outage)")
            else:
                f = inj.config.for_endpoint(endpoint)
                status, retry_after = f.error_status, round(f.retry_after)
                body = error_json(f"injected fault: {status} (loadsim mock --error-rate)")
            extra = b"Retry-After: %d\r\n" % max(0, retry_after) if status in (429, 503) else b""
            conn.send(response(status, body, headers=extra, close=not conn.keep_alive), delay)
            return True
        return False
