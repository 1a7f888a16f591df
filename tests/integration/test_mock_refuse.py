"""The mock down for a while: ``POST /_admin/refuse`` refuses connections, answers what it already
read, and listens again on its port by itself; ``outage_status = "refuse"`` in a scenario plays it.

Each test runs the mock as a subprocess on 127.0.0.1 port 0; every wait is bounded.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from simulator.mock.admin import MAX_REFUSE_S, openapi
from simulator.scenario import ScenarioError, parse_scenario
from tests.integration.mock_support import (
    HEADERS,
    PATHS,
    address,
    event,
    raw_request,
    read_response,
    uid,
)
from tests.integration.test_run import start_mock, stop

pytestmark = pytest.mark.integration


@pytest.fixture
def mock() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc, url = start_mock("--latency", "events=2s")  # an events answer stays in flight for 2 s
    try:
        yield proc, url
    finally:
        stop(proc)


def admin(url: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else body if isinstance(body, bytes) else orjson.dumps(body)
    req = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, orjson.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read())


def refuses(url: str) -> bool:
    try:
        socket.create_connection(address(url), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def wait_until(check: Any, *, within: float, step: float = 0.02) -> float:
    """Seconds until ``check()`` is true; fails after ``within`` seconds."""
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < within, f"{check.__name__} still false after {within} s"
        time.sleep(step)
    return time.monotonic() - t0


def test_connects_are_refused_during_the_refusal_and_succeed_after(mock: tuple[Any, str]) -> None:
    _, url = mock
    idle = http.client.HTTPConnection(*address(url), timeout=5)
    idle.request("GET", "/_admin/health")
    assert idle.getresponse().read()  # a keep-alive connection, idle when the refusal starts

    t0 = time.monotonic()
    assert admin(url, "POST", "/_admin/refuse", {"for": "1.5s"}) == (200, {"refusing_for": 1.5})
    wait_until(lambda: refuses(url), within=1.0)
    for _ in range(5):  # refused throughout, not once
        assert refuses(url)
        time.sleep(0.1)
    # The idle keep-alive connection was closed: no answer on it, as from a collector that went away.
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        idle.request("GET", "/_admin/health")
        idle.getresponse()
    idle.close()

    wait_until(lambda: not refuses(url), within=5.0)
    back = time.monotonic() - t0
    assert 1.4 <= back < 4.0, back  # ends by itself after the time asked, on the same port
    status, stats = admin(url, "GET", "/_admin/stats")
    assert status == 200 and stats["faults"]["refusals"] == 1 and stats["refusing_for_s"] == 0.0


def test_a_request_in_flight_when_the_refusal_starts_is_answered_and_stored_once(mock: tuple[Any, str]) -> None:
    _, url = mock
    # A: read and stored, its answer delayed by the latency fault.
    a = socket.create_connection(address(url), timeout=10)
    a.sendall(raw_request("POST", PATHS["events"], body=orjson.dumps(event(1))))
    wait_until(lambda: admin(url, "GET", "/_admin/stats")[1]["accepted"]["events"] == 1, within=5.0)
    # B: its head read, its body not yet sent.
    body_b = orjson.dumps(event(2))
    b = socket.create_connection(address(url), timeout=10)
    b.sendall(raw_request("POST", PATHS["events"], body=body_b)[:-10])
    time.sleep(0.2)  # let the mock read B's first part

    assert admin(url, "POST", "/_admin/refuse", {"for": 2})[0] == 200
    wait_until(lambda: refuses(url), within=1.0)
    a.setblocking(False)
    with pytest.raises(BlockingIOError):  # A is still in flight now that the mock refuses
        a.recv(1)
    a.settimeout(10)
    b.sendall(body_b[-10:])
    for conn in (a, b):
        f = conn.makefile("rb")
        status, headers, _ = read_response(f)
        assert status == 200 and headers.get("connection") == ("close" if conn is b else None), headers
        assert f.read() == b""  # then the mock closes the connection
        conn.close()

    wait_until(lambda: not refuses(url), within=5.0)
    stats = admin(url, "GET", "/_admin/stats")[1]
    assert stats["accepted"]["events"] == 2 and stats["requests"] == 2, stats
    rows = admin(url, "GET", "/_admin/events?limit=10")[1]["events"]
    assert sorted(r["uid"] for r in rows) == [uid(1), uid(2)]  # each stored once


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b"[]",
        b"nope",
        b'{"for": 0}',
        b'{"for": -1}',
        b'{"for": true}',
        b'{"for": "soon"}',
        b'{"for": 20, "why": 1}',
        orjson.dumps({"for": MAX_REFUSE_S + 1}),
    ],
)
def test_a_bad_refusal_is_a_400_that_says_what_to_send(mock: tuple[Any, str], body: bytes) -> None:
    _, url = mock
    status, answer = admin(url, "POST", "/_admin/refuse", body)
    assert status == 400 and '{"for": 20}' in answer["validation_error"]["error_message"], answer
    assert not refuses(url)


def test_the_refusal_is_in_the_openapi_document_and_answers_as_it_says(mock: tuple[Any, str]) -> None:
    _, url = mock
    doc = admin(url, "GET", "/_admin/openapi.json")[1]
    assert doc == orjson.loads(orjson.dumps(openapi(server=url)))
    op = doc["paths"]["/_admin/refuse"]["post"]
    assert set(op["responses"]) == {"200", "400", "401", "403", "415", "503"}
    assert op["requestBody"]["content"]["application/json"]["schema"]["required"] == ["for"]
    status, answer = admin(url, "GET", "/_admin/refuse")
    assert status == 405 and "use POST" in answer["validation_error"]["error_message"]
    conn = http.client.HTTPConnection(*address(url), timeout=5)
    conn.request("POST", "/_admin/refuse", body=b'{"for": 0.3}', headers=HEADERS)
    resp = conn.getresponse()
    assert resp.status == 200 and set(orjson.loads(resp.read())) == {"refusing_for"}
    conn.close()
    wait_until(lambda: refuses(url), within=1.0)
    wait_until(lambda: not refuses(url), within=5.0)


# --- scenarios ------------------------------------------------------------------------------------


def test_a_scenario_may_refuse_connections_in_its_outage() -> None:
    s = parse_scenario('extends = "outage"\n[target.mock]\noutage_status = "refuse"\n', file="down.toml")
    assert s.target.mock["outage_status"] == "refuse"


@pytest.mark.parametrize("value", ['"refused"', '"503"', "504", "true"])
def test_another_outage_status_is_a_clear_error(value: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(f'extends = "outage"\n[target.mock]\noutage_status = {value}\n', file="down.toml")
    text = str(info.value)
    assert "down.toml" in text and "target.mock.outage_status" in text and '"refuse"' in text, text


def test_stopping_during_a_refusal_does_not_listen_again() -> None:
    from simulator.mock import MockServer

    with MockServer() as server:
        url = server.url
        assert admin(url, "POST", "/_admin/refuse", {"for": 1})[0] == 200
        wait_until(lambda: refuses(url), within=1.0)
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 3.0  # the stop did not wait for the refusal's end
    time.sleep(1.3)  # past the refusal's end: nothing came back to listen
    assert refuses(url)
