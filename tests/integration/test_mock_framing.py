"""The mock's HTTP/1.1 framing against hostile shapes (RFC 9110/9112), over raw sockets on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import orjson
import pytest

from simulator.mock import MockServer
from simulator.mock.limits import Limits
from tests.integration import mock_support as ms

pytestmark = pytest.mark.integration

#: A small head limit, so that a trailer section past it is cheap to send.
HEAD_LIMIT = 4096
#: How much framing the tests send: the packet that carried the head is not counted, and one read
#: takes up to 256 KiB (asyncio's), which a loaded host may fill with all of a smaller request.
PAST_ONE_READ = 1 << 20
EVENT = orjson.dumps(ms.event(who=1))


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer(seed=1, limits=Limits(max_header_bytes=HEAD_LIMIT)) as server:
        yield server


def _chunked(headers: dict[str, str], trailer: bytes = b"") -> bytes:
    """A chunked POST of one event to the events endpoint; ``trailer`` is its trailer section's lines."""
    head = ms.raw_request("POST", ms.PATHS["events"], {**headers, "Transfer-Encoding": "chunked"}, content_length=False)
    return head + b"%x\r\n%s\r\n0\r\n%s\r\n" % (len(EVENT), EVENT, trailer)


def _streamed(mock: MockServer, first: bytes, rest: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``first``, then ``rest`` in packets of its own (as a client streaming it); the answer."""
    with socket.create_connection(ms.address(mock.url), timeout=10) as sock:
        sock.sendall(first)
        time.sleep(0.2)  # the mock reads the first packet alone (the head's packet is not counted)
        for i in range(0, len(rest), 1024):
            sock.sendall(rest[i : i + 1024])
        return ms.read_response(sock.makefile("rb"))


def _message(payload: bytes) -> str:
    message: str = orjson.loads(payload)["validation_error"]["error_message"]
    return message


def test_a_trailer_field_stands_in_for_no_header(mock: MockServer) -> None:
    # RFC 9110 §6.5.1: a trailer field is not merged into the header section. Before, a
    # CL-User-Agent sent only as a trailer was taken as the header (a 200 for a request a
    # collector refuses), and a trailing Content-Type replaced the one in the head (a 415).
    before = mock.stats()["accepted"]["events"]
    no_ua = {"Content-Type": "application/json"}
    [(status, _, payload)] = ms.exchange(mock.url, _chunked(no_ua, b"CL-User-Agent: " + ms.UA.encode() + b"\r\n"))
    assert status == 400 and "missing CL-User-Agent" in _message(payload)
    [(status, _, payload)] = ms.exchange(mock.url, _chunked(ms.HEADERS, b"Content-Type: text/plain\r\n"))
    assert status == 200, payload
    assert mock.stats()["accepted"]["events"] == before + 1


def test_a_trailer_section_past_the_header_limit_gets_431_and_nothing_is_stored(mock: MockServer) -> None:
    # Before: trailers were not counted at all; 16 MiB of them got a 200 (and a stream of them
    # kept the connection, unsheddable, for as long as the client liked).
    before = mock.stats()
    request = _chunked(ms.HEADERS, b"X-Pad: %s\r\n" % (b"a" * 100) * (PAST_ONE_READ // 100))
    head, end, trailers = request.partition(b"\r\n0\r\n")
    status, headers, payload = _streamed(mock, head + end, trailers)
    assert status == 431 and headers["connection"] == "close"
    assert "trailer section" in _message(payload) and f"larger than {HEAD_LIMIT} bytes" in _message(payload)
    after = mock.stats()
    assert after["accepted"]["events"] == before["accepted"]["events"]
    assert (
        after["rejections_by_reason"]["headers_too_large"]
        == before["rejections_by_reason"].get("headers_too_large", 0) + 1
    )
    # A trailer section within the limit is fine, and so is the connection after it.
    with socket.create_connection(ms.address(mock.url), timeout=10) as sock:
        sock.sendall(_chunked(ms.HEADERS, b"X-Checksum: 1\r\n") * 2)
        f = sock.makefile("rb")
        assert [ms.read_response(f)[0] for _ in range(2)] == [200, 200]


@pytest.mark.parametrize(
    "framing",
    [b"1;ext=" + b"a" * PAST_ONE_READ + b"\r\nx\r\n", b"0" * PAST_ONE_READ + b"1\r\nx\r\n"],
    ids=["chunk-extension", "zeros-in-a-chunk-size"],
)
def test_chunk_framing_past_the_header_limit_gets_431(mock: MockServer, framing: bytes) -> None:
    # Before: only a chunk's data counted towards a limit; framing around it (extensions, a size
    # padded with zeros) was read without end, a 400 only once the client chose to stop.
    head = ms.raw_request(
        "POST", ms.PATHS["events"], {**ms.HEADERS, "Transfer-Encoding": "chunked"}, content_length=False
    )
    status, _, payload = _streamed(mock, head, framing)
    assert status == 431, payload
    assert f"larger than {HEAD_LIMIT} bytes" in _message(payload)


def test_a_head_past_the_limit_gets_431_however_its_packets_are_cut(mock: MockServer) -> None:
    # README: "a header block over 64 KiB [gets] 431". Before, the packet a head began in went
    # to the parser uncounted: two headers of 3/4 of the limit, one a packet, got a 200; and so
    # did a head trickled in packets each beginning with "\r\n" (5 times the limit, never counted).
    big = HEAD_LIMIT * 3 // 4
    request = ms.raw_request("POST", ms.PATHS["events"], {**ms.HEADERS, "X-A": "a" * big, "X-B": "b" * big}, EVENT)
    cut = request.index(b"X-B: ")
    status, headers, payload = ms.trickle(mock.url, request[:cut], [request[cut:]], pause=0.2)
    assert status == 431 and headers["connection"] == "close", payload
    assert f"larger than {HEAD_LIMIT} bytes" in _message(payload)
    head, blank, body = ms.raw_request("POST", ms.PATHS["events"], None, EVENT).partition(b"\r\n\r\n")
    lines = [b"\r\nX-%d: %s" % (i, b"v" * 200) for i in range(5 * HEAD_LIMIT // 200)]
    status, _, payload = ms.trickle(mock.url, head, [*lines, blank + body], pause=0.002)
    assert status == 431, payload
    assert "--max-header-bytes" in _message(payload)


def _event_request(host_lines: bytes, version: bytes = b"1.1") -> bytes:
    request = ms.raw_request("POST", ms.PATHS["events"], None, EVENT)
    request = request.replace(b"Host: 127.0.0.1\r\n", host_lines, 1)
    return request.replace(b" HTTP/1.1\r\n", b" HTTP/" + version + b"\r\n", 1)


@pytest.mark.parametrize(
    ("host_lines", "says"),
    [(b"", "missing Host header"), (b"Host: 127.0.0.1\r\nHost: example.com\r\n", "more than one Host header")],
    ids=["no-host", "two-hosts"],
)
def test_an_http11_request_without_exactly_one_host_gets_400_naming_it(
    mock: MockServer, host_lines: bytes, says: str
) -> None:
    # RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without a Host header or
    # with more than one (two are a request-smuggling shape: proxies disagree on which wins).
    # Before: both got a 200 and were stored, where a real collector's front end refuses them.
    before = mock.stats()
    [(status, headers, payload)] = ms.exchange(mock.url, _event_request(host_lines))
    assert status == 400, payload
    assert says in _message(payload) and headers["connection"] == "close"
    after = mock.stats()
    assert after["accepted"]["events"] == before["accepted"]["events"]
    assert after["rejected"]["events"] == before["rejected"]["events"] + 1


def test_two_hosts_do_not_pass_the_admin_apis_host_check(mock: MockServer) -> None:
    # Before: the last Host was the one checked, so a foreign first one was served.
    request = b"GET /_admin/stats HTTP/1.1\r\nHost: rebound.example\r\nHost: 127.0.0.1\r\n\r\n"
    [(status, _, payload)] = ms.exchange(mock.url, request)
    assert status == 400 and "more than one Host header" in _message(payload)


@pytest.mark.parametrize(
    "types",
    [("text/plain", "application/json"), ("application/json", "text/plain"), ("application/json", "application/json")],
    ids=["json-last", "json-first", "the-same"],
)
def test_two_content_types_get_400_naming_the_header(mock: MockServer, types: tuple[str, str]) -> None:
    # One reading of every body: which Content-Type counts decides a 415 or a 200. Before, the
    # last one won: text/plain then application/json got a 200 (and was stored), the reverse a 415.
    # Content-Type is a singleton field (RFC 9110 §5.3, §8.3): two lines are malformed even when the
    # same, as two Hosts or two Content-Lengths are here. Before: the same one twice got a 200, stored.
    before = mock.stats()
    two = b"Content-Type: %s\r\nContent-Type: %s\r\n" % (types[0].encode(), types[1].encode())
    request = _event_request(b"Host: 127.0.0.1\r\n").replace(b"Content-Type: application/json\r\n", two, 1)
    assert request.count(b"Content-Type: ") == 2
    [(status, headers, payload)] = ms.exchange(mock.url, request)
    assert status == 400, payload
    assert "more than one Content-Type header" in _message(payload) and headers["connection"] == "close"
    assert mock.stats()["accepted"]["events"] == before["accepted"]["events"]


@pytest.mark.parametrize(
    "second", ["", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)"], ids=["empty", "another"]
)
def test_two_cl_user_agents_get_400_naming_the_header(mock: MockServer, second: str) -> None:
    # Which device sent the event is read from its one CL-User-Agent (a WebView user agent, commas in
    # it: two lines cannot be joined as a list). Before, the last line won: an empty one after a
    # device's got the 400 for a missing header, a device's after an empty one a 200, stored.
    before = mock.stats()
    request = _event_request(b"Host: 127.0.0.1\r\n")
    line = b"CL-User-Agent: " + ms.UA.encode() + b"\r\n"
    assert request.count(line) == 1
    request = request.replace(line, line + b"CL-User-Agent: " + second.encode() + b"\r\n", 1)
    [(status, headers, payload)] = ms.exchange(mock.url, request)
    assert status == 400, payload
    assert "more than one CL-User-Agent header" in _message(payload) and headers["connection"] == "close"
    assert mock.stats()["accepted"]["events"] == before["accepted"]["events"]


def test_an_http10_request_needs_no_host(mock: MockServer) -> None:
    before = mock.stats()["accepted"]["events"]
    [(status, _, payload)] = ms.exchange(mock.url, _event_request(b"", b"1.0"))
    assert status == 200, payload
    assert mock.stats()["accepted"]["events"] == before + 1


@pytest.mark.parametrize("coding", ["gzip, chunked", "deflate,chunked", "x-custom ,  chunked"])
def test_a_transfer_coding_it_cannot_decode_gets_501_naming_it_and_nothing_is_stored(
    mock: MockServer, coding: str
) -> None:
    # RFC 9112 §6.1: a coding the server does not understand gets a 501. Before: the coded bytes
    # were read as if they were the body, so plain JSON labelled gzip was stored with a 200 (and
    # real gzip got a 400 saying the body is "not valid UTF-8").
    before = mock.stats()
    request = _chunked(ms.HEADERS).replace(b"Transfer-Encoding: chunked", f"Transfer-Encoding: {coding}".encode())
    [(status, headers, payload)] = ms.exchange(mock.url, request)
    assert status == 501, payload
    message = _message(payload)
    assert f"Transfer-Encoding {coding!r}" in message and "chunked alone or a Content-Length" in message
    assert headers["connection"] == "close"
    after = mock.stats()
    assert after["accepted"]["events"] == before["accepted"]["events"]
    assert after["rejected"]["events"] == before["rejected"]["events"] + 1
    assert after["rejections_by_reason"]["unsupported_transfer_coding"] == (
        before["rejections_by_reason"].get("unsupported_transfer_coding", 0) + 1
    )


def test_a_transfer_coding_on_a_line_of_its_own_gets_501_as_on_one_line(mock: MockServer) -> None:
    # RFC 9110 §5.3: two Transfer-Encoding lines mean their values joined with a comma. Before: only
    # the last line was read, so "gzip" then "chunked" got a 200 and the coded bytes were stored.
    before = mock.stats()
    request = _chunked(ms.HEADERS).replace(
        b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked"
    )
    [(status, headers, payload)] = ms.exchange(mock.url, request)
    assert status == 501, payload
    assert "Transfer-Encoding 'gzip, chunked'" in _message(payload) and headers["connection"] == "close"
    assert mock.stats()["accepted"]["events"] == before["accepted"]["events"]


def test_an_http10_request_with_transfer_encoding_gets_400_and_the_connection_closes(mock: MockServer) -> None:
    # RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message MUST be treated as faulty framing,
    # and the connection closed after the answer (an HTTP/1.0 hop in front would read the body
    # otherwise). Before: a 200, the event stored, and the keep-alive connection kept.
    before = mock.stats()["accepted"]["events"]
    request = _chunked({**ms.HEADERS, "Connection": "keep-alive"}).replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1)
    with socket.create_connection(ms.address(mock.url), timeout=10) as sock:
        sock.sendall(request)
        f = sock.makefile("rb")
        status, headers, payload = ms.read_response(f)
        assert status == 400, payload
        assert "Transfer-Encoding" in _message(payload) and headers["connection"] == "close"
        assert f.read() == b""  # closed by the server
    assert mock.stats()["accepted"]["events"] == before


def test_chunked_alone_in_any_case_is_served(mock: MockServer) -> None:
    request = _chunked(ms.HEADERS).replace(b"Transfer-Encoding: chunked", b"Transfer-Encoding: Chunked")
    [(status, _, payload)] = ms.exchange(mock.url, request)
    assert status == 200, payload


@pytest.mark.parametrize(
    "request_bytes",
    [
        _event_request(b"Host: 127.0.0.1\r\n", b"2.0"),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",  # HTTP/2 with prior knowledge (OkHttp's H2_PRIOR_KNOWLEDGE)
    ],
    ids=["http2-request-line", "http2-preface"],
)
def test_http2_gets_505_saying_the_mock_speaks_http11(mock: MockServer, request_bytes: bytes) -> None:
    # RFC 9110 §15.6.6: a major version the server does not support gets a 505. Before: an
    # "HTTP/2.0" request line was served (and its event stored) as if it were HTTP/1.x, and the
    # HTTP/2 preface got a 400 "malformed HTTP request: Pause on PRI/Upgrade".
    before = mock.stats()["accepted"]["events"]
    [(status, headers, payload)] = ms.exchange(mock.url, request_bytes)
    assert status == 505, payload
    assert "speaks HTTP/1.1" in _message(payload) and headers["connection"] == "close"
    assert mock.stats()["accepted"]["events"] == before


def test_an_http10_request_gets_no_100_continue(mock: MockServer) -> None:
    # RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST be ignored (an
    # HTTP/1.0 client knows no 1xx and takes the first answer for the final one). Before: it got
    # "HTTP/1.1 100 Continue" first, then the 200.
    request = _event_request(b"Host: 127.0.0.1\r\nExpect: 100-continue\r\n", b"1.0")
    head, _, body = request.partition(b"\r\n\r\n")
    status, _, payload = _streamed(mock, head + b"\r\n\r\n", body)
    assert status == 200, payload
