"""The mock collector's HTTP server: asyncio protocols, httptools parsing, uvloop when available.

Why this stack (measured for issue #5 with wrk on one core, same events body): a bare asyncio +
httptools + uvloop server ~90k requests/s, uvicorn with a bare ASGI app ~40k, aiohttp ~30k,
Starlette ~27k. The target is >= 27k *with* validation, stitching and storage, so there is no
room for a framework; see ``bench/bench_mock.py`` for the figure of this server.

HTTP/1.1 keep-alive and pipelining: each connection answers in request order. An answer that
must wait (injected latency, a freeze, a held request) takes a slot in the connection's queue;
answers behind it wait for it, as HTTP/1.1 requires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import sys
import time
from collections import deque
from typing import Any

import httptools
import orjson

from simulator import contract
from simulator.digest import combine
from simulator.mock import admin
from simulator.mock.faults import FaultConfig, FaultInjector
from simulator.mock.state import CollectorState
from simulator.mock.store import FLUSH_INTERVAL_S, Store
from simulator.mock.validation import fast_checks

__all__ = ["MAX_BODY", "App", "HttpProtocol", "response"]

log = logging.getLogger(__name__)

#: Larger bodies get a 413 (the reference names no limit; 1 MiB is far above any real body).
MAX_BODY = 1024 * 1024
#: Pipelined answers waiting on one connection before it stops reading (backpressure).
MAX_QUEUED = 512

_REASONS = {
    100: b"Continue",
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    413: b"Content Too Large",
    415: b"Unsupported Media Type",
    429: b"Too Many Requests",
    500: b"Internal Server Error",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
}


def response(
    status: int,
    body: bytes = b"",
    *,
    content_type: bytes = b"application/json",
    headers: bytes = b"",
    close: bool = False,
) -> bytes:
    """One HTTP/1.1 response, as bytes; ``headers`` are extra ``Name: value\\r\\n`` lines."""
    head = b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Unknown"))
    if body:
        head += b"Content-Type: " + content_type + b"\r\n"
    head += b"Content-Length: %d\r\n" % len(body) + headers
    if close:
        head += b"Connection: close\r\n"
    return head + b"\r\n" + body


_OK_EMPTY = response(200)
_OK_EMPTY_CLOSE = response(200, close=True)


def _error(message: str) -> bytes:
    return orjson.dumps(contract.error_body(message))


def _is_json_type(ct: bytes) -> bool:
    mime = ct.split(b";", 1)[0].strip().lower()
    return mime == b"application/json" or (mime.startswith(b"application/") and mime.endswith(b"+json"))


class App:
    """Everything shared by the connections: state, store, faults and the request handler."""

    def __init__(self, *, store: str = ":memory:", faults: FaultConfig | None = None, seed: int = 0) -> None:
        self.state = CollectorState()
        self.store = Store(store)
        self.seed = seed
        self.injector = FaultInjector(faults, seed=seed, now=time.monotonic())
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

    async def listen(self, host: str, port: int) -> tuple[str, int]:
        """Listen on ``host:port`` (port 0: a free one); returns the address bound."""
        loop = asyncio.get_running_loop()
        # SO_REUSEADDR so that the port can be bound again at once after a refusal.
        self.server = await loop.create_server(lambda: HttpProtocol(self), host, port, backlog=2048, reuse_address=True)
        bound = self.server.sockets[0].getsockname()[:2]
        self._bind = (host, bound[1])
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

    def start_flushing(self, loop: asyncio.AbstractEventLoop) -> None:
        """Write the store's pending rows every ``FLUSH_INTERVAL_S`` on ``loop`` (see ``store``)."""
        self.loop = loop

        def tick() -> None:
            self.store.flush()
            loop.call_later(FLUSH_INTERVAL_S, tick)

        loop.call_later(FLUSH_INTERVAL_S, tick)

    def set_faults(self, config: FaultConfig) -> None:
        self.injector.set(config, now=time.monotonic())

    def reset(self) -> None:
        self.state.reset()
        self.store.reset()
        self.injector = FaultInjector(self.injector.config, seed=self.seed, now=time.monotonic())

    def stats(self) -> dict[str, Any]:
        out = self.state.stats()
        out["stored"] = {"written": self.store.written, "pending": self.store.pending}
        out["connections"] = len(self.connections)
        until = self.refusing_until
        out["refusing_for_s"] = 0.0 if until is None else round(max(0.0, until - time.monotonic()), 3)
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
        conn.send(response(status, _error(message), headers=headers, close=not conn.keep_alive), delay)

    def handle(
        self,
        conn: HttpProtocol,
        method: bytes,
        url: bytes,
        content_type: bytes | None,
        user_agent: bytes | None,
        body: bytes,
        too_large: bool,
    ) -> None:
        """Answer one complete request on ``conn`` (the hot path: keep it flat)."""
        st = self.state
        now = time.time()
        path_b, _, query = url.partition(b"?")
        route = self._routes.get(path_b)
        if route is None:
            path = path_b.decode("latin-1")
            route = (path, contract.endpoint_for_path(path))
            if len(self._routes) < 4096:  # a few webhook sources; never grow on a path scan
                self._routes[path_b] = route
        path, endpoint = route
        if endpoint is None:
            if path.startswith("/_admin/") or path == "/_admin":
                status, payload, extra = admin.handle(self, method.decode("latin-1"), path, query, body)
                conn.send(response(status, payload, headers=extra, close=not conn.keep_alive), 0.0)
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
        if too_large:
            self._reject(
                conn,
                endpoint,
                413,
                "body_too_large",
                f"body larger than {MAX_BODY} bytes; send one event per request",
                path,
                b"",
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
        if not self.fast[endpoint](obj):
            problems = contract.validate(endpoint, obj)
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
                st.accepted["events"] += 1
                st.digests["events"] = combine(st.digests["events"], body)
                st.webhook_sources[source] = st.webhook_sources.get(source, 0) + 1
                self.store.add_accepted("events", now, obj["uid"], obj["sid"], p.id, source, body)
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
            st.accepted[endpoint] += 1
            st.digests[endpoint] = combine(st.digests[endpoint], body)
            self.store.add_accepted(endpoint, now, obj["uid"], obj["sid"], p.id, None, body)
            answer = {"user_id": obj["uid"], "external_ids": p.external_ids, "additional_info": p.additional_info}
            if endpoint == "identify":
                answer["user_traits"] = p.traits
        conn.send(response(200, orjson.dumps(answer), close=not conn.keep_alive), delay)

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
        if action == "error":
            st.faults["errors"] += 1
            f = self.injector.config.for_endpoint(endpoint)
            extra = b""
            if f.error_status in (429, 503):
                extra = b"Retry-After: %d\r\n" % max(0, round(f.retry_after))
            body = _error(f"injected fault: {f.error_status} (loadsim mock --error-rate)")
            conn.send(response(f.error_status, body, headers=extra, close=not conn.keep_alive), delay)
            return True
        return False


class HttpProtocol(asyncio.Protocol):
    """One client connection: parses with httptools and answers in order."""

    __slots__ = (
        "_body",
        "_ct",
        "_head",
        "_queue",
        "_size",
        "_too_large",
        "_ua",
        "_url",
        "app",
        "closed",
        "draining",
        "keep_alive",
        "parser",
        "paused",
        "transport",
    )

    def __init__(self, app: App) -> None:
        self.app = app
        self.parser = httptools.HttpRequestParser(self)
        # None until connection_made; nothing writes before it (the type: ignore[union-attr] below).
        self.transport: asyncio.Transport | None = None
        self._queue: deque[list[Any]] = deque()
        self.keep_alive = True
        self.closed = False
        #: Answer what was read, then close (a refusal began): no keep-alive from here on.
        self.draining = False
        self.paused = False
        self._head = False
        self._url = b""
        self._ct: bytes | None = None
        self._ua: bytes | None = None
        self._body: list[bytes] = []
        self._size = 0
        self._too_large = False

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP server's transport is a Transport
        self.app.connections.add(self)
        if self.app.refusing_until is not None:  # accepted just before the listener closed
            self.draining = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.app.connections.discard(self)
        self._queue.clear()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            # A bug in the mock, not in the request: say so with a 500 (the tests assert none
            # ever happens) rather than blaming the client with a 400.
            log.exception("loadsim mock: internal error while answering a request")
            self.app.state.reject(None, "internal_error")
            self._bad_request("internal error in the loadsim mock (a bug: please report it)", status=500)
        except httptools.HttpParserUpgrade:
            self._bad_request("protocol upgrades are not supported; send plain HTTP/1.1")
        except httptools.HttpParserError as exc:
            self._bad_request(f"malformed HTTP request: {exc}")

    def pause_writing(self) -> None:
        self._pause()

    def resume_writing(self) -> None:
        self._resume()

    # --- httptools callbacks ----------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        n = name.lower()
        if n == b"content-type":
            self._ct = value
        elif n == b"cl-user-agent":
            self._ua = value.strip()
        elif n == b"expect" and value.lower() == b"100-continue" and not self._queue and not self.closed:
            # Sent as soon as the header is seen (not after the last one): one callback fewer per
            # request, and the client only waits for it before sending the body.
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # type: ignore[union-attr]

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > MAX_BODY:
            self._too_large = True
            self._body = []
        elif not self._too_large:
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self.closed:
            return
        self.keep_alive = self.parser.should_keep_alive() and not self.draining
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        method = self.parser.get_method()
        self._head = method == b"HEAD"
        url, ct, ua, too_large = self._url, self._ct, self._ua, self._too_large
        # Reset here rather than in on_message_begin: one callback fewer per request.
        self._url, self._ct, self._ua, self._body, self._size, self._too_large = b"", None, None, [], 0, False
        self.app.handle(self, method, url, ct, ua, body, too_large)

    # --- answering, in order ----------------------------------------------------------------

    def send(self, data: bytes, delay: float) -> None:
        """Answer the current request now, or after ``delay`` seconds, keeping the order."""
        if self.closed:
            return
        if self._head:  # a HEAD answer has the headers of the GET answer and no body
            data = data[: data.index(b"\r\n\r\n") + 4]
        if delay <= 0 and not self._queue:
            self.transport.write(data)  # type: ignore[union-attr]
            if not self.keep_alive:
                self._close()
            return
        slot: list[Any] = [None, not self.keep_alive]
        self._queue.append(slot)
        if len(self._queue) >= MAX_QUEUED:
            self._pause()
        if delay <= 0:
            slot[0] = data
            self._flush()
        else:
            self.app.loop.call_later(delay, self._fill, slot, data)  # type: ignore[union-attr]  # set before serving

    def close_when_idle(self) -> None:
        """Close now if no request is under way, else once the answers to what was read are out."""
        if self.closed:
            return
        self.draining = True
        # A request partly received is not processed yet: closing drops nothing acknowledged.
        if not self._queue and not self._url and not self._body:
            self._close()

    def hold(self) -> None:
        """Never answer this request (a timeout for the client); later answers wait behind it."""
        self._queue.append([None, False])

    def reset(self) -> None:
        """Drop the connection with a TCP RST and no answer."""
        if self.closed or self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.closed = True
        self.transport.abort()

    def _fill(self, slot: list[Any], data: bytes) -> None:
        slot[0] = data
        self._flush()

    def _flush(self) -> None:
        q = self._queue
        while q and q[0][0] is not None and not self.closed:
            data, close = q.popleft()
            self.transport.write(data)  # type: ignore[union-attr]
            if close:
                self._close()
                return
        if self.draining and not q:
            self._close()
            return
        if len(q) < MAX_QUEUED // 2:
            self._resume()

    def _pause(self) -> None:
        if not self.paused and self.transport is not None and not self.closed:
            self.paused = True
            self.transport.pause_reading()

    def _resume(self) -> None:
        if self.paused and self.transport is not None and not self.closed:
            self.paused = False
            self.transport.resume_reading()

    def _close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def _bad_request(self, message: str, *, status: int = 400) -> None:
        if status == 400:
            self.app.state.reject(None, "malformed_http")
        self.keep_alive = False
        data = response(status, _error(message), close=True)
        if self._queue:
            self._queue.append([data, True])
            self._flush()
        else:
            self.transport.write(data)  # type: ignore[union-attr]
            self._close()
