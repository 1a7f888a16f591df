"""Faults over real HTTP: each behaves as configured, by flags or through ``PUT /_admin/faults``."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator

import orjson
import pytest

from simulator.loadtest import runner
from simulator.mock import FaultConfig, MockServer
from tests.integration import mock_support as ms

pytestmark = pytest.mark.integration

EVENT = orjson.dumps(ms.event(1, who=1))


@pytest.fixture
def mock() -> Iterator[MockServer]:
    with MockServer(seed=5) as server:
        yield server


def _put_faults(mock: MockServer, document: object) -> tuple[int, object]:
    conn = ms.connect(mock.url)
    conn.request("PUT", "/_admin/faults", body=orjson.dumps(document), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    return resp.status, orjson.loads(resp.read())


def test_error_rate_and_status_and_retry_after() -> None:
    faults = FaultConfig.from_flags(error_rate=["events=0.3:503"], retry_after="2")
    with MockServer(faults=faults, seed=11) as mock:
        conn = ms.connect(mock.url)
        n, errors = 600, 0
        for _ in range(n):
            conn.request("POST", "/webhook/s", body=EVENT, headers=ms.HEADERS)
            resp = conn.getresponse()
            resp.read()
            if resp.status == 503:
                errors += 1
                assert resp.getheader("Retry-After") == "2"
            else:
                assert resp.status == 200
        # Binomial(600, 0.3): standard deviation 0.0187; allow 4 of them.
        assert abs(errors / n - 0.3) < 0.075
        stats = mock.stats()
        assert stats["faults"]["errors"] == errors
        assert stats["accepted"]["events"] == n - errors
        # Other endpoints are untouched.
        assert ms.post(conn, ms.PATHS["externalIds"], ms.session_start(1))[0] == 200


def test_429_carries_retry_after(mock: MockServer) -> None:
    assert (
        _put_faults(mock, {"endpoints": {"identify": {"error_rate": 1, "error_status": 429, "retry_after": 7}}})[0]
        == 200
    )
    [(status, headers, body)] = ms.exchange(
        mock.url, ms.raw_request("POST", "/app/identify", None, orjson.dumps(ms.identify(1)))
    )
    assert (status, headers["retry-after"]) == (429, "7")
    assert b"injected fault" in body
    assert mock.stats()["accepted"]["identify"] == 0


def _timed_posts(url: str, n: int) -> list[float]:
    conn = ms.connect(url)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        assert ms.post(conn, "/webhook/s", EVENT)[0] == 200
        out.append(time.perf_counter() - t)
    return sorted(out)


def test_fixed_latency_delays_every_answer() -> None:
    with MockServer(faults=FaultConfig.from_flags(latency="events=30ms")) as mock:
        delays = _timed_posts(mock.url, 40)
        assert delays[0] >= 0.029
        assert delays[len(delays) // 2] < 0.030 + 0.05  # loopback plus a shared CI machine
        assert ms.post(ms.connect(mock.url), ms.PATHS["externalIds"], ms.session_start(1))[0] == 200


def test_lognormal_latency_has_its_median_and_tail() -> None:
    faults = FaultConfig.from_flags(latency="lognormal:median=10ms,p99=60ms")
    with MockServer(faults=faults, seed=2) as mock:
        delays = _timed_posts(mock.url, 300)
    median, p95 = delays[len(delays) // 2], delays[int(len(delays) * 0.95)]
    # 300 draws: the sample median of a lognormal is within ~10% of its median. Loopback and a busy
    # CI machine only ever add time, so the upper bounds leave room; the draws' exact distribution
    # is checked without a clock in tests/unit/test_mock_faults.py.
    assert 0.0085 < median < 0.02
    # p95 of lognormal(median 10ms, p99 60ms) is 10ms * 6 ** (1.645 / 2.326) = 35.5 ms.
    assert 0.025 < p95 < 0.07


def test_pipelined_answers_keep_their_order_behind_a_slow_one(mock: MockServer) -> None:
    _put_faults(mock, {"endpoints": {"identify": {"latency": "150ms"}}})
    reqs = [
        ms.raw_request("POST", "/app/identify", None, orjson.dumps(ms.identify(1))),
        ms.raw_request("POST", "/webhook/s", None, EVENT),
        ms.raw_request("GET", "/_admin/health"),
    ]
    t = time.perf_counter()
    answers = ms.exchange(mock.url, b"".join(reqs), count=3)
    assert time.perf_counter() - t >= 0.14
    assert [a[0] for a in answers] == [200, 200, 200]
    assert b"user_traits" in answers[0][2] and answers[1][2] == b"" and answers[2][2] == b'{"status":"ok"}'


def test_held_requests_are_never_answered(mock: MockServer) -> None:
    _put_faults(mock, {"endpoints": {"events": {"hold_rate": 1.0}}})
    conn = ms.connect(mock.url, timeout=0.5)
    with pytest.raises((TimeoutError, socket.timeout)):
        ms.post(conn, "/webhook/s", EVENT)
    stats = mock.stats()
    assert stats["faults"]["held"] == 1 and stats["accepted"]["events"] == 0


def test_resets_drop_the_connection(mock: MockServer) -> None:
    _put_faults(mock, {"default": {"reset_rate": 1.0}})
    conn = ms.connect(mock.url)
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        ms.post(conn, "/webhook/s", EVENT)
    assert mock.stats()["faults"]["resets"] == 1
    # The admin API is never faulted, and the server is still up.
    assert ms.get_json(ms.connect(mock.url), "/_admin/health") == {"status": "ok"}


def test_freeze_window_stalls_every_request_until_it_ends(mock: MockServer) -> None:
    assert _put_faults(mock, {"freeze_at": 0, "freeze_for": 0.4})[0] == 200
    conn = ms.connect(mock.url)
    t = time.perf_counter()
    assert ms.post(conn, "/webhook/s", EVENT)[0] == 200
    assert time.perf_counter() - t >= 0.3
    t = time.perf_counter()
    assert ms.post(conn, "/webhook/s", EVENT)[0] == 200
    assert time.perf_counter() - t < 0.2


def test_a_freeze_counts_from_the_first_request_not_from_the_mocks_start() -> None:
    """A scenario's mock starts a Locust start-up before the load, and a standalone one may wait longer:
    before, a window timed from the start had closed by the first request, and nothing ever froze."""
    with MockServer(faults=FaultConfig.from_flags(freeze_at="1s", freeze_for="1.5s")) as mock:
        time.sleep(3)  # past the window, had it opened with the mock
        conn = ms.connect(mock.url)
        t = time.perf_counter()
        assert ms.post(conn, "/webhook/s", EVENT)[0] == 200
        assert time.perf_counter() - t < 0.5  # the first request starts the clock
        time.sleep(1.2)
        t = time.perf_counter()
        assert ms.post(conn, "/webhook/s", EVENT)[0] == 200
        assert time.perf_counter() - t >= 0.8  # 1.2 s after the first: in the window, which ends at 2.5 s


def test_drop_answers_200_but_stores_nothing(mock: MockServer) -> None:
    _put_faults(mock, {"endpoints": {"events": {"drop_rate": 1.0}}})
    conn = ms.connect(mock.url)
    assert ms.post(conn, "/webhook/s", EVENT) == (200, b"")
    assert ms.post(conn, "/webhook/s", b"{}")[0] == 400  # invalid bodies are still refused
    stats = mock.stats()
    assert stats["accepted"]["events"] == 0 and stats["digest"]["events"] == 0
    assert stats["faults"]["dropped"] == 1
    assert ms.get_json(conn, "/_admin/events")["events"] == []


def test_faults_are_read_and_replaced_at_runtime(mock: MockServer) -> None:
    doc = {"default": {"latency": "uniform:1ms-2ms"}, "endpoints": {"events": {"error_rate": 0.5}}}
    status, body = _put_faults(mock, doc)
    assert status == 200
    got = ms.get_json(ms.connect(mock.url), "/_admin/faults")
    assert got == body
    assert got["endpoints"]["events"]["latency"] == "uniform:1ms-2ms"  # inherited from the default
    assert FaultConfig.from_dict(got) == FaultConfig.from_dict(doc)
    status, body = _put_faults(mock, {"default": {"error_rate": 2}})
    assert status == 400 and "between 0 and 1" in body["validation_error"]["error_message"]  # type: ignore[index]
    assert ms.get_json(ms.connect(mock.url), "/_admin/faults") == got  # unchanged by the bad PUT


def test_a_scenarios_outage_leaves_the_freeze_clock_and_the_faults_alone() -> None:
    """Before: the harness played an outage by replacing the mock's faults with 100% errors, then
    putting them back; putting them back restarted the freeze clock, so a freeze already over came
    again after the outage, and latency configured at the mock was gone while the outage lasted."""
    faults = FaultConfig.from_flags(freeze_at="0s", freeze_for="0.3s", latency=["uniform:1ms-2ms"])
    with MockServer(faults=faults) as mock:
        before = ms.get_json(ms.connect(mock.url), "/_admin/faults")
        conn = ms.connect(mock.url)
        assert ms.post(conn, "/webhook/s", EVENT)[0] == 200  # the first request: in the freeze
        time.sleep(0.4)  # the freeze is over
        outage = runner._Outage(mock.url, 0.0, 0.3, 503)
        outage._begin()
        assert ms.post(conn, "/webhook/s", EVENT)[0] == 503
        assert ms.get_json(ms.connect(mock.url), "/_admin/faults") == before
        time.sleep(0.4)
        outage._end()
        t = time.perf_counter()
        assert ms.post(conn, "/webhook/s", EVENT)[0] == 200
        assert time.perf_counter() - t < 0.2  # no second freeze
        assert ms.get_json(ms.connect(mock.url), "/_admin/faults") == before


def test_an_outage_answers_with_the_mocks_latency() -> None:
    """A collector down still takes its time to say so. Before: the outage's 503s came back at
    once, the 300 ms the mock was set to take gone for as long as the outage lasted."""
    with MockServer(faults=FaultConfig.from_flags(latency=["300ms"])) as mock:
        conn = ms.connect(mock.url)
        runner._Outage(mock.url, 0.0, 5.0, 503)._begin()
        t = time.perf_counter()
        assert ms.post(conn, "/webhook/s", EVENT)[0] == 503
        assert time.perf_counter() - t >= 0.29


def test_an_outage_ends_by_itself_when_whoever_asked_for_it_is_gone(mock: MockServer) -> None:
    """A harness killed mid-outage never sends its end: a standalone mock answered 503 for good."""
    conn = ms.connect(mock.url)
    conn.request("POST", "/_admin/outage", body=b'{"for": 0.3, "status": 429}', headers=ms.HEADERS)
    resp = conn.getresponse()
    assert (resp.status, orjson.loads(resp.read())) == (200, {"outage_for": 0.3, "status": 429})
    status, _ = ms.post(conn, "/webhook/s", EVENT)
    assert status == 429 and 0 < mock.stats()["outage_for_s"] <= 0.3
    time.sleep(0.4)
    assert ms.post(conn, "/webhook/s", EVENT)[0] == 200
    stats = mock.stats()
    assert stats["faults"]["outages"] == 1 and stats["faults"]["errors"] == 1 and stats["outage_for_s"] == 0


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'{"for": 2}', "status"),
        (b'{"status": 503}', "for"),
        (b'{"for": 0, "status": 503}', "for"),
        (b'{"for": 2, "status": 200}', "status"),
        (b'{"for": 2, "status": "503"}', "status"),
        (b'{"for": 2, "status": 503, "extra": 1}', "extra"),
        (b"[1]", "object"),
    ],
)
def test_an_outage_request_that_makes_no_sense_is_a_400_naming_the_field(
    mock: MockServer, body: bytes, named: str
) -> None:
    conn = ms.connect(mock.url)
    conn.request("POST", "/_admin/outage", body=body, headers=ms.HEADERS)
    resp = conn.getresponse()
    message = orjson.loads(resp.read())["validation_error"]["error_message"]
    said = message.split("; send ")[0]  # every message ends with the usage text, which names both fields
    assert resp.status == 400 and named in said, message
    assert ms.post(conn, "/webhook/s", EVENT)[0] == 200  # nothing started
