"""Helpers for the mock's integration tests: hand-made devices and people, raw HTTP on loopback."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson

from simulator import payloads
from simulator.payloads import Device, Person

APP = "loadsim-demo"
UA = "Mozilla/5.0 (Linux; Android 14; Pixel 6 Build/AP1A.240505.004; wv) AppleWebKit/537.36"


def device(n: int = 1, platform: str = "android") -> Device:
    ad = f"{n:08x}-4b7d-4e8a-9c1f-2a3b4c5d6e7f"
    return Device(
        platform=platform,  # type: ignore[typeddict-item]
        ad_id=ad.upper() if platform == "ios" else ad,
        ga_app_instance_id=f"{n:032x}",
        info={
            "limitAdTracking": False,
            "user_agent": UA,
            "appPackageName": "com.example.shop",
            "extInfoVersion": "i2" if platform == "ios" else "a2",
            "osVersion": "14",
            "deviceModelName": "Pixel 6",
            "locale": "en-US",
            "deviceTimeZone": "Asia/Kolkata",
        },
        country="IN",
        currency="INR",
    )


def person(n: int = 1) -> Person:
    return Person(
        first_name="Ada",
        last_name=f"Test{n}",
        email=f"ada{n}@example.com",
        phone=f"+1555010{n:04d}",
        gender="female",
        age=36,
        country="India",
        state="Maharashtra",
        city="Thane",
        zip="400601",
        address1="Line 1",
    )


def uid(n: int, install: int = 0) -> str:
    return f"{APP}{install:08x}-{n:04x}-4e8a-9c1f-2a3b4c5d6e7f"


def sid(n: int, session: int = 0) -> str:
    return f"CL-{session:08x}-{n:04x}-4e8a-9c1f-2a3b4c5d6e7f"


def session_start(n: int = 1, *, install: int = 0, session: int = 0, platform: str = "android") -> dict[str, Any]:
    return payloads.session_start(APP, device(n, platform), uid(n, install), sid(n, session), "1700000000")


def identify(
    n: int = 1, *, install: int = 0, session: int = 0, who: int | None = None, added_at: str = "2026-11-28T10:00:00Z"
) -> dict[str, Any]:
    p = person(n if who is None else who)
    return payloads.identify(
        APP, device(n), uid(n, install), sid(n, session), "1700000000", p, added_at, payloads.identify_by(p)
    )


def event(
    n: int = 1,
    *,
    install: int = 0,
    session: int = 0,
    who: int | None = None,
    name: str = "Purchase",
    added_at: str = "2026-11-28T10:00:00Z",
    value: float = 100,
) -> dict[str, Any]:
    by = payloads.identify_by(person(who)) if who is not None else {}
    return payloads.event(
        APP,
        uid(n, install),
        sid(n, session),
        name,
        added_at,
        by,
        {"value": value, "currency": "USD", "transaction_id": f"TXN-{n}"},
        products=[{"product_id": "SKU-1", "product_name": "Shoes", "product_price": value, "product_quantity": 1}],
    )


PATHS = {"externalIds": "/app/externalIds", "identify": "/app/identify", "events": "/webhook/test-source"}
HEADERS = {"Content-Type": "application/json", "CL-User-Agent": UA}


def raw_request(
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    host: str = "127.0.0.1",
    content_length: bool = True,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    for k, v in (HEADERS if headers is None else headers).items():
        lines.append(f"{k}: {v}")
    if content_length and (body or method == "POST"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def address(url: str) -> tuple[str, int]:
    u = urlsplit(url)
    return u.hostname or "127.0.0.1", u.port or 80


def read_response(f: Any) -> tuple[int, dict[str, str], bytes]:
    """One response from a buffered reader (Content-Length bodies only: all the mock sends)."""
    status_line = f.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection without an answer")
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := f.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = f.read(int(headers.get("content-length", "0")))
    return status, headers, body


def exchange(url: str, data: bytes, *, count: int = 1, timeout: float = 10) -> list[tuple[int, dict[str, str], bytes]]:
    """Send raw bytes on a fresh connection and read ``count`` responses: ``(status, headers, body)``."""
    with socket.create_connection(address(url), timeout=timeout) as sock:
        sock.sendall(data)
        f = sock.makefile("rb")
        out = []
        for _ in range(count):
            status, headers, body = read_response(f)
            if status == 100:
                status, headers, body = read_response(f)
            out.append((status, headers, body))
        return out


def trickle(
    url: str, first: bytes, packets: Sequence[bytes], *, pause: float, timeout: float = 30
) -> tuple[int, dict[str, str], bytes]:
    """Send ``first``, then each of ``packets`` alone, ``pause`` s apart, while reading the answer: the answer.

    The sending stops at the answer (or when the server closes): at most ``len(packets)`` packets.
    """
    with socket.create_connection(address(url), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one packet a send, as a slow client's
        answered = threading.Event()

        def send() -> None:
            with contextlib.suppress(OSError):  # the server answered and closed before the end: what we test
                sock.sendall(first)
                for packet in packets:
                    if answered.wait(pause):
                        return
                    sock.sendall(packet)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            return read_response(sock.makefile("rb"))
        finally:
            answered.set()
            sender.join(timeout=timeout)


def post(
    conn: http.client.HTTPConnection, path: str, body: bytes | dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    conn.request("POST", path, body=data, headers=HEADERS if headers is None else headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


def get_json(conn: http.client.HTTPConnection, path: str) -> Any:
    conn.request("GET", path)
    resp = conn.getresponse()
    data = resp.read()
    assert resp.status == 200, (resp.status, data)
    return orjson.loads(data)


def connect(url: str, timeout: float = 10) -> http.client.HTTPConnection:
    host, port = address(url)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def start_mock(*args: str) -> tuple[Any, str]:
    """``python -m simulator.mock --port 0 ARGS`` in a subprocess: ``(process, url)``; the caller stops it."""
    import subprocess
    import sys

    from simulator.mock import LISTENING_PREFIX

    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator.mock", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if not line.startswith(LISTENING_PREFIX):
        proc.kill()
        raise RuntimeError(f"the mock did not start: {line}{proc.stderr.read()}")  # type: ignore[union-attr]
    return proc, line[len(LISTENING_PREFIX) :].strip()


class Sender:
    """Posts distinct events on one keep-alive connection until told to stop (bounded in count and time).

    ``acked`` holds the bodies answered 200; ``statuses`` counts every status; ``slowest`` is the
    longest wait for one answer, in seconds.
    """

    def __init__(self, url: str, worker: int, *, max_requests: int = 20_000, max_seconds: float = 30.0) -> None:
        import threading

        self.url, self.worker = url, worker
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.acked: list[bytes] = []
        self.statuses: dict[int, int] = {}
        self.retry_after: set[str | None] = set()
        self.slowest = 0.0
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Sender:
        self.thread.start()
        return self

    def join(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)

    def _run(self) -> None:
        import time

        conn = connect(self.url, timeout=20)
        deadline = time.monotonic() + self.max_seconds
        for i in range(self.max_requests):
            if self.stop.is_set() or time.monotonic() > deadline:
                break
            body = orjson.dumps(event(self.worker + 1, value=self.worker * 1_000_000 + i))
            began = time.monotonic()
            try:
                conn.request("POST", f"/webhook/w{self.worker}", body=body, headers=HEADERS)
                resp = conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = connect(self.url, timeout=20)
                continue
            self.slowest = max(self.slowest, time.monotonic() - began)
            self.sent += 1
            self.statuses[resp.status] = self.statuses.get(resp.status, 0) + 1
            if resp.status == 200:
                self.acked.append(body)
            else:
                self.retry_after.add(resp.getheader("Retry-After"))
            if resp.status == 503:
                time.sleep(0.01)  # as an SDK backs off: do not spin while the store is down
        conn.close()
