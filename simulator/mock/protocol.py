"""One client connection of the mock collector: HTTP/1.1 framing with httptools, in order.

HTTP/1.1 keep-alive and pipelining: each connection answers in request order. An answer that
must wait (injected latency, a freeze, a held request) takes a slot in the connection's queue;
answers behind it wait for it, as HTTP/1.1 requires. An Upgrade offer (h2c, websocket) is ignored,
as RFC 9110 §7.8 lets a server that speaks only HTTP/1.1: the request, body and all, and the
connection go on in HTTP/1.1. The limits and timeouts of a request's head
and body are enforced here, before the request reaches the handler (``server.App``), which this
module knows only as the ``Handler`` protocol: the server imports this module, never the reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections import deque
from typing import Any, Protocol

import httptools
import orjson

from simulator import contract
from simulator.mock.limits import Limits
from simulator.mock.state import CollectorState

__all__ = ["Handler", "HttpProtocol", "error_json", "response"]

log = logging.getLogger(__name__)

#: Seconds a connection closed after an error answer keeps reading (and discarding) before it closes.
LINGER_S = 2.0
#: Pipelined answers waiting on one connection before it stops reading (backpressure).
MAX_QUEUED = 512

_REASONS = {
    100: b"Continue",
    200: b"OK",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    413: b"Content Too Large",
    414: b"URI Too Long",
    415: b"Unsupported Media Type",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
    505: b"HTTP Version Not Supported",
}
#: The answer to HTTP/2 (a request line, or the preface of a client with prior knowledge).
_HTTP2 = ("http_version_not_supported", "HTTP/2 is not spoken here: the loadsim mock speaks HTTP/1.1 (and 1.0)")


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


def error_json(message: str) -> bytes:
    """The body of an error answer, as the reference shapes it."""
    return orjson.dumps(contract.error_body(message))


class Handler(Protocol):
    """What a connection needs of the app that serves it (``server.App``)."""

    limits: Limits
    state: CollectorState
    connections: set[HttpProtocol]
    loop: asyncio.AbstractEventLoop | None
    refusing_until: float | None
    max_connections: int
    max_request_line: int
    max_header_bytes: int
    max_body: int

    def handle(
        self,
        conn: HttpProtocol,
        method: bytes,
        url: bytes,
        content_type: bytes | None,
        user_agent: bytes | None,
        body: bytes,
    ) -> None: ...

    def shed(self, newcomer: HttpProtocol) -> None: ...

    def refuse_request(self, url: bytes, status: int, reason: str, message: str) -> None: ...


class _Refuse(Exception):
    """Raised inside a parser callback: answer ``status`` at once and stop reading the request."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def _headers_too_large(limit: int) -> _Refuse:
    return _Refuse(
        431, "headers_too_large", f"request header block larger than {limit} bytes (loadsim mock --max-header-bytes)"
    )


class HttpProtocol(asyncio.Protocol):
    """One client connection: parses with httptools and answers in order.

    A request's head is buffered here (a ``bytearray``: linear in the bytes received, where
    httptools would concatenate a long header quadratically) until its blank line arrives, then
    parsed in one call; past ``max_header_bytes`` it gets a 431 (a 414 when its request line alone
    is longer than ``max_request_line``), past ``max_body`` a 413, decided from Content-Length
    before any 100 Continue. Those answers close the connection after a short lingering read, so
    the client sees them rather than a reset.
    """

    __slots__ = (
        "_auth",
        "_body",
        "_chunks",
        "_clen",
        "_conn",
        "_ct",
        "_declined",
        "_done",
        "_expect",
        "_framing",
        "_head",
        "_head_began",
        "_head_bytes",
        "_headbuf",
        "_host",
        "_in_body",
        "_ka10",
        "_last",
        "_linger",
        "_origin",
        "_queue",
        "_size",
        "_te",
        "_ua",
        "_upgrade",
        "_url",
        "admin_ok",
        "admin_only",
        "app",
        "closed",
        "draining",
        "keep_alive",
        "parser",
        "paused",
        "transport",
    )

    def __init__(self, app: Handler, *, admin_ok: bool = True, admin_only: bool = False) -> None:
        self.app = app
        #: Whether /_admin/ is served on this connection's port, and whether nothing else is.
        self.admin_ok, self.admin_only = admin_ok, admin_only
        self._host: bytes | None = None
        self._origin: bytes | None = None
        self._auth: bytes | None = None
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
        #: The current body's chunks so far, and its bytes received after the packet of its head:
        #: what is not data (chunk sizes, extensions, trailers) is bounded by them (see ``_framing_check``).
        self._chunks = 0
        self._framing = 0
        #: Requests read whole on this connection (tells whether a packet held the end of one).
        self._done = 0
        self._clen = -1
        self._expect = False
        #: A Connection header was seen; the answer must say keep-alive (an HTTP/1.0 keep-alive request).
        self._conn = False
        self._ka10 = False
        #: An Upgrade header was seen, and the Transfer-Encoding sent (both only to decline an upgrade).
        self._upgrade = False
        self._te: bytes | None = None
        #: The head of an upgrade just declined, to parse its body as HTTP/1.1 (see ``_decline_upgrade``).
        self._declined: bytes | None = None
        #: Between the end of a request's head and the end of its body.
        self._in_body = False
        #: The part of a request's head received so far (empty between requests).
        self._headbuf = bytearray()
        #: ``time.monotonic()`` of the first byte of the request whose head is arriving (None: none is).
        self._head_began: float | None = None
        #: The current head's header lines parsed so far, in bytes: the limit, whichever way its packets came.
        self._head_bytes = 0
        #: ``time.monotonic()`` of the last bytes received (or of the connection).
        self._last = time.monotonic()
        #: Discarding input until the close of an answered-and-refused request (see ``_refuse``).
        self._linger = False

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP server's transport is a Transport
        app = self.app
        app.connections.add(self)
        if app.refusing_until is not None:  # accepted just before the listener closed
            self.draining = True
        if len(app.connections) > app.max_connections:
            app.shed(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.app.connections.discard(self)
        self._queue.clear()

    def data_received(self, data: bytes) -> None:
        if self.closed or self._linger:
            return
        self._last = time.monotonic()
        # The common case, fed at once: between requests, a packet no larger than the head limit.
        # Otherwise a head is under way (or the packet is large): see ``_head_ready``.
        if not self._in_body and (self._url or self._headbuf or len(data) > self.app.max_header_bytes):
            ready = self._head_ready(data)
            if ready is None:
                return
            data = ready
        in_body, done = self._in_body, self._done
        # Bounded: each declined upgrade consumes its head from ``data`` (see ``_decline_upgrade``).
        while True:
            try:
                self.parser.feed_data(data)
                if in_body and self._in_body and done == self._done:
                    self._framing_check(len(data))
                elif self._url and not self._in_body and self._head_began is None:
                    # A head begun in a packet fed whole: timed from this packet, as a buffered one is.
                    self._head_began = self._last
            except httptools.HttpParserCallbackError as exc:
                refusal = exc.__context__
                if isinstance(refusal, _Refuse):
                    self._refuse(refusal)
                    return
                # A bug in the mock, not in the request: say so with a 500 (the tests assert none
                # ever happens) rather than blaming the client with a 400.
                log.exception("loadsim mock: internal error while answering a request")
                self.app.state.reject(None, "internal_error")
                self._bad_request("internal error in the loadsim mock (a bug: please report it)", status=500)
            except httptools.HttpParserUpgrade as exc:
                rest = self._decline_upgrade(data, exc.args[0])
                if rest is not None:
                    data = rest
                    continue
                # CONNECT, answered already: what follows would be a tunnel's bytes. That one answer, then close.
                self.keep_alive = False
                self.draining = self._linger = True
                if not self._queue:
                    self._close()
            except httptools.HttpParserError as exc:
                if self.parser.get_method() == b"PRI":  # the HTTP/2 preface: "PRI * HTTP/2.0"
                    self._refuse(_Refuse(505, *_HTTP2))
                else:
                    self._bad_request(f"malformed HTTP request: {exc}")
            return

    def _decline_upgrade(self, data: bytes, offset: int) -> bytes | None:
        """What to parse next after the parser stopped at an Upgrade (h2c, websocket): None for CONNECT.

        The mock speaks only HTTP/1.1, so it ignores the offer (RFC 9110 §7.8) and serves the request
        as any other. httptools stops at the end of such a head and skips its body, so the request
        was held back in ``on_message_complete``; a fresh parser now reads it from a head without
        the Upgrade (the same request line, framing and persistence) followed by the bytes after
        the original head, and the connection goes on in HTTP/1.1.
        """
        head = self._declined
        if head is None:
            return None
        self._declined = None
        self._url = b""  # the fresh parser reads the request line again (and checks its length again)
        self.parser = httptools.HttpRequestParser(self)
        return head + data[offset:]

    def _head_ready(self, data: bytes) -> bytes | None:
        """What to give the parser now while a head arrives, or None (buffered, or refused).

        The head is kept in a ``bytearray`` until its blank line is here, then parsed in one call:
        linear in the bytes received, where httptools would concatenate a long header value once
        per packet. Past ``max_header_bytes`` it gets a 431 (a 414 for a long request line).
        """
        limit = self.app.max_header_bytes
        buf = self._headbuf
        if not buf:
            if self._url and data[:1] in (b"\r", b"\n"):
                return data  # the parser holds the head so far, and its blank line may begin here
            if not self._url and len(data) > limit:
                # One large packet from the start of a request: its head must end within the limit.
                if data.find(b"\r\n\r\n", 0, limit + 4) < 0:
                    self._head_too_large(data)
                    return None
                return data
            if self._head_began is None:
                self._head_began = self._last
        start = max(0, len(buf) - 3)
        buf += data
        end = buf.find(b"\r\n\r\n", start)
        if end < 0:
            if len(buf) > limit:
                self._head_too_large(buf)
            return None
        if end + 4 > limit:
            self._head_too_large(buf)
            return None
        self._headbuf = bytearray()
        return bytes(buf)

    def pause_writing(self) -> None:
        self._pause()

    def resume_writing(self) -> None:
        self._resume()

    # --- httptools callbacks ----------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._url += url
        # The request line, as --max-request-line says: "METHOD URL HTTP/x.y", the version (8 bytes, after
        # the URL) and one space each side counted ahead (extra spaces the parser allows are not).
        if len(self._url) + len(self.parser.get_method()) + 10 > self.app.max_request_line:
            limit = self.app.max_request_line
            raise _Refuse(
                414, "uri_too_long", f"request line longer than {limit} bytes (loadsim mock --max-request-line)"
            )

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_body:
            # A trailer field: never merged into the header section (RFC 9110 §6.5.1), so a trailing
            # CL-User-Agent or Content-Type does not stand in for the header; bounded by _framing_check.
            return
        # Counted here, not only in the buffer: the packet a head began in, and packets beginning with
        # the end of a header line, reach the parser unbuffered. 3: the colon and CRLF a line has at least.
        self._head_bytes += len(name) + len(value) + 3
        if self._head_bytes + len(self._url) > self.app.max_header_bytes:
            raise _headers_too_large(self.app.max_header_bytes)
        n = name.lower()
        if n == b"content-type":
            # A singleton field (RFC 9110 §5.3): which one counts would decide a 415 or a 200, so two lines are
            # malformed, the same value or not, as two Hosts are (and two Content-Lengths, by httptools).
            if self._ct is not None:
                raise _Refuse(400, "malformed_http", "malformed HTTP request: more than one Content-Type header")
            self._ct = value
        elif n == b"cl-user-agent":
            # One device's WebView user agent (commas in it: two lines cannot be joined as a list, and
            # whichever won would decide a 400 or a 200), so two are malformed, as two Content-Types are.
            if self._ua is not None:
                raise _Refuse(400, "malformed_http", "malformed HTTP request: more than one CL-User-Agent header")
            self._ua = value.strip()
        elif n == b"content-length":
            try:
                self._clen = int(value)
            except ValueError:  # httptools itself refuses a malformed one (a try is cheaper than suppress())
                self._clen = -1
        elif n == b"host":
            if self._host is not None:  # RFC 9112 §3.2; which one would a proxy in front have read?
                raise _Refuse(400, "malformed_http", "malformed HTTP request: more than one Host header")
            self._host = value
        elif n == b"expect" and value.lower() == b"100-continue":
            self._expect = True
        elif n == b"origin":
            self._origin = value
        elif n == b"authorization":
            self._auth = value
        elif n == b"connection":
            self._conn = True  # only the version tells what it means: see on_message_complete
        elif n == b"upgrade":
            self._upgrade = True
        elif n == b"transfer-encoding":
            # Lines of their own mean their values joined (RFC 9110 §5.3): "gzip" then "chunked" is "gzip, chunked".
            self._te = value if self._te is None else self._te + b", " + value

    def on_headers_complete(self) -> None:
        self._in_body = True
        self._head_began = None
        self._head_bytes = 0
        version = self.parser.get_http_version()
        if version != "1.1" and version != "1.0" and version != "0.9":  # httptools lets "2.0" through
            raise _Refuse(505, *_HTTP2)
        if self._host is None and version == "1.1":
            raise _Refuse(
                400, "malformed_http", "malformed HTTP request: missing Host header (every HTTP/1.1 request has one)"
            )
        te = self._te
        if te is not None and version != "1.1":
            # RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing (a 1.0 hop reads
            # no chunks), answered and closed: _Refuse does both.
            raise _Refuse(
                400,
                "malformed_http",
                f"malformed HTTP request: Transfer-Encoding in an HTTP/{version} request; send a Content-Length",
            )
        if te is not None and te.strip().lower() != b"chunked":
            # httptools takes "gzip, chunked" for chunked and would hand over the still-gzipped
            # bytes as the body; RFC 9112 §6.1: a coding the server does not decode gets a 501.
            shown = te.decode("latin-1")[:100]
            raise _Refuse(
                501,
                "unsupported_transfer_coding",
                f"Transfer-Encoding {shown!r} is not supported: send the body with chunked alone or a Content-Length",
            )
        if self._clen > self.app.max_body:
            limit = self.app.max_body
            raise _Refuse(413, "body_too_large", f"body larger than {limit} bytes; send one event per request")
        # An HTTP/1.0 client knows no 1xx: its expectation is ignored (RFC 9110 §10.1.1).
        if self._expect and version == "1.1" and not self._queue and not self.closed:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # type: ignore[union-attr]
            self._expect = False  # once: a declined upgrade's head is parsed twice

    def on_chunk_header(self) -> None:
        self._chunks += 1

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self.app.max_body:  # a chunked body: no Content-Length to decide from
            limit = self.app.max_body
            raise _Refuse(413, "body_too_large", f"body larger than {limit} bytes; send one event per request")
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self.closed:
            return
        if self._upgrade:
            self._upgrade = False
            if self.parser.should_upgrade() and self.parser.get_method() != b"CONNECT":
                # httptools skipped the body of what it took for a protocol switch: hold the
                # request back, to be parsed again as HTTP/1.1 (see ``_decline_upgrade``).
                self._declined = self._plain_head()
                self._te = None
                return
        self.keep_alive = self.parser.should_keep_alive() and not self.draining
        # RFC 9112 §9.3: an HTTP/1.0 connection persists only if the answer says keep-alive too.
        self._ka10 = self._conn and self.keep_alive and self.parser.get_http_version() == "1.0"
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        method = self.parser.get_method()
        self._head = method == b"HEAD"
        url, ct, ua = self._url, self._ct, self._ua
        # Reset here rather than in on_message_begin: one callback fewer per request.
        self._url, self._ct, self._ua, self._body, self._size, self._clen, self._in_body = (
            b"",
            None,
            None,
            [],
            0,
            -1,
            False,
        )
        self._done += 1
        self._chunks = self._framing = 0
        self.app.handle(self, method, url, ct, ua, body)
        # After handling: the admin API reads them during ``handle``; the rare ones only when sent.
        self._host = None
        if self._expect or self._conn or self._origin is not None or self._auth is not None or self._te is not None:
            self._expect, self._conn, self._origin, self._auth, self._te = False, False, None, None, None

    def _plain_head(self) -> bytes:
        """The current request's head as a plain HTTP/1.1 request: its request line, body framing and
        persistence, without the Upgrade; the other headers the mock reads are kept already."""
        p = self.parser
        http10 = p.get_http_version() == "1.0"
        lines = [b"%s %s HTTP/1.%d" % (p.get_method(), self._url, 0 if http10 else 1)]
        if self._te is not None:
            lines.append(b"Transfer-Encoding: " + self._te)
        elif self._clen >= 0:
            lines.append(b"Content-Length: %d" % self._clen)
        keep = p.should_keep_alive()
        if http10 and keep:
            lines.append(b"Connection: keep-alive")
        elif not http10 and not keep:
            lines.append(b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n"

    # --- limits and timeouts ----------------------------------------------------------------

    def _framing_check(self, received: int) -> None:
        """Count a packet read wholly inside a body: past ``max_header_bytes`` of bytes that are not
        data (chunk extensions, zero-padded sizes, trailers) beyond 32 a chunk, a 431. Without it, a
        chunked body's framing is read without end: only its data counts towards ``max_body``. The
        packet of the head is not counted (where its head ends is not known here): one read at most."""
        self._framing += received
        limits = self.app.limits
        if self._framing - self._size > limits.max_header_bytes + 32 * self._chunks:
            self._refuse(
                _Refuse(
                    431,
                    "headers_too_large",
                    f"chunked framing (chunk extensions, trailer section) larger than {limits.max_header_bytes} "
                    "bytes (loadsim mock --max-header-bytes)",
                )
            )

    def _head_too_large(self, head: bytes | bytearray) -> None:
        limits = self.app.limits
        line_end = head.find(b"\r\n", 0, limits.max_request_line + 2)
        # Which limit: only a head seen from its start tells (the parser checks the URL it holds).
        if line_end < 0 and not self._url:
            self._url = bytes(head[: min(len(head), 1024)]).partition(b" ")[2]
            self._refuse(
                _Refuse(
                    414,
                    "uri_too_long",
                    f"request line longer than {limits.max_request_line} bytes (loadsim mock --max-request-line)",
                )
            )
            return
        if not self._url:
            self._url = bytes(head[:line_end]).split(b" ")[1] if head.count(b" ", 0, line_end) >= 2 else b""
        self._refuse(_headers_too_large(limits.max_header_bytes))

    def _refuse(self, refusal: _Refuse) -> None:
        """Answer a request refused before its end (too long, too slow), then close after a lingering read."""
        self.app.refuse_request(self._url, refusal.status, refusal.reason, refusal.message)
        self._headbuf = bytearray()
        self._bad_request(refusal.message, status=refusal.status, count=False)

    def check_timeouts(self, now: float) -> None:
        """Called about once a second: a head or body that stalls gets a 408, an idle connection closes."""
        if self.closed or self._linger:
            return
        limits = self.app.limits
        if self._in_body:
            if now - self._last > limits.body_timeout:
                self._timeout("body", limits.body_timeout)
        elif self._headbuf or self._url:
            began = self._last if self._head_began is None else self._head_began
            if now - began > limits.header_timeout:
                self._timeout("header", limits.header_timeout)
        elif not self._queue and now - self._last > limits.idle_timeout:
            self._close()

    def _timeout(self, part: str, seconds: float) -> None:
        flag = "--header-timeout" if part == "header" else "--body-timeout"
        self._refuse(
            _Refuse(
                408,
                f"{part}_timeout",
                f"the request's {part} did not arrive within {seconds:g} s (loadsim mock {flag})",
            )
        )

    def idle_since(self) -> float | None:
        """When this connection became idle or slow (sheddable), or None while it is being served."""
        if self.closed or self._queue or self._in_body:
            return None
        return self._last

    # --- answering, in order ----------------------------------------------------------------

    def send(self, data: bytes, delay: float) -> None:
        """Answer the current request now, or after ``delay`` seconds, keeping the order."""
        if self.closed:
            return
        if self._head:  # a HEAD answer has the headers of the GET answer and no body
            data = data[: data.index(b"\r\n\r\n") + 4]
        if self._ka10:
            data = data.replace(b"\r\n\r\n", b"\r\nConnection: keep-alive\r\n\r\n", 1)
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
            if self._linger:
                # Lingering close: send FIN, keep reading (and discarding) briefly so the client's
                # unsent body does not turn our answer into a reset on its side.
                transport = self.transport
                with contextlib.suppress(OSError, RuntimeError):
                    if transport.can_write_eof():
                        transport.write_eof()
                        self._resume_for_linger()
                        assert self.app.loop is not None
                        self.app.loop.call_later(LINGER_S, transport.close)
                        return
            self.transport.close()

    def _resume_for_linger(self) -> None:
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def _bad_request(self, message: str, *, status: int = 400, count: bool = True) -> None:
        if status == 400 and count:
            self.app.state.reject(None, "malformed_http")
        self.keep_alive = False
        self._linger = True
        data = response(status, error_json(message), close=True)
        if self._queue:
            self._queue.append([data, True])
            self._flush()
        else:
            self.transport.write(data)  # type: ignore[union-attr]
            self._close()
