"""The admin API cannot be driven by a web page or a peer (issue #15, defect 4 and the small ones).

Before: a browser-style "simple" request (POST, text/plain, a foreign Origin) got 200 from
/_admin/reset (counters wiped) and /_admin/refuse {"for": 3600} (the mock down for an hour);
there was no token; admin inputs took ``error_rate: true`` and an infinite latency.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from simulator.mock import MockServer
from tests.integration import mock_support as ms

pytestmark = pytest.mark.integration

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


def call(url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> tuple[int, Any]:
    host, port = ms.address(url)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, orjson.loads(data) if data else None
    finally:
        conn.close()


def test_a_cross_site_simple_request_changes_nothing(mock: MockServer) -> None:
    assert ms.post(ms.connect(mock.url), ms.PATHS["events"], ms.event(1))[0] == 200
    before = mock.stats()["accepted"]["events"]
    page = {"Content-Type": "text/plain", "Origin": "http://evil.example"}
    status, answer = call(mock.url, "POST", "/_admin/reset", b"{}", page)
    assert status == 403, answer  # was 200, counters wiped
    status, answer = call(mock.url, "POST", "/_admin/refuse", b'{"for": 3600}', page)
    assert status == 403, answer  # was 200, the mock down for an hour
    assert mock.stats()["accepted"]["events"] == before and mock.stats()["refusing_for_s"] == 0
    # Without an Origin (curl, a script), a state-changing call must still say it is JSON.
    status, answer = call(mock.url, "POST", "/_admin/reset", b"{}", {"Content-Type": "text/plain"})
    assert status == 415 and "Content-Type: application/json" in answer["validation_error"]["error_message"]
    status, _ = call(mock.url, "PUT", "/_admin/faults", b"{}", {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415
    assert mock.stats()["accepted"]["events"] == before


def test_a_foreign_host_is_refused_and_the_own_origin_is_served(mock: MockServer) -> None:
    status, answer = call(mock.url, "GET", "/_admin/events", headers={"Host": "rebound.example:8080"})
    assert status == 403 and "--admin-token" in answer["validation_error"]["error_message"]
    host = mock.url.removeprefix("http://")
    assert call(mock.url, "GET", "/_admin/stats", headers={"Origin": f"http://{host}"})[0] == 200
    assert call(mock.url, "GET", "/_admin/stats", headers={"Host": "localhost:1"})[0] == 200


def test_with_a_token_every_admin_call_but_health_needs_it() -> None:
    with MockServer(admin_token="s3cret") as mock:
        status, answer = call(mock.url, "GET", "/_admin/stats")
        assert status == 401 and "--admin-token" in answer["validation_error"]["error_message"]
        assert call(mock.url, "GET", "/_admin/stats", headers={"Authorization": "Bearer wrong"})[0] == 401
        assert call(mock.url, "GET", "/_admin/stats", headers={"Authorization": "Bearer s3cret"})[0] == 200
        assert call(mock.url, "POST", "/_admin/reset", b"{}", {**JSON, "Authorization": "Bearer s3cret"})[0] == 200
        assert call(mock.url, "GET", "/_admin/health")[0] == 200  # probes carry no secret
        # With a token, a Host naming the service (a cluster DNS name) is fine.
        auth = {"Authorization": "Bearer s3cret", "Host": "loadsim-mock:8080"}
        assert call(mock.url, "GET", "/_admin/stats", headers=auth)[0] == 200


def test_a_non_loopback_address_needs_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="--admin-token"):
        MockServer(host="0.0.0.0")
    from simulator.cli import main

    assert main(["mock", "--host", "0.0.0.0", "--port", "0", "--store", ":memory:"]) == 2
    assert "--admin-token" in capsys.readouterr().err


def test_an_admin_port_leaves_the_tracking_port_without_admin() -> None:
    with MockServer(admin_port=0) as mock:
        assert mock.admin_url != mock.url
        assert call(mock.url, "GET", "/_admin/stats")[0] == 404
        assert call(mock.admin_url, "GET", "/_admin/stats")[0] == 200
        assert call(mock.admin_url, "POST", ms.PATHS["events"], orjson.dumps(ms.event(1)), ms.HEADERS)[0] == 404
        assert ms.post(ms.connect(mock.url), ms.PATHS["events"], ms.event(1))[0] == 200
        assert mock.stats()["accepted"]["events"] == 1


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"default": {"error_rate": True}}, "error_rate must be a number between 0 and 1"),
        ({"default": {"hold_rate": 1.5}}, "hold_rate must be a number between 0 and 1"),
        ({"default": {"latency": "1" * 400 + "ms"}}, "between 0 and 3600 s"),
        ({"default": {"latency": "lognormal:median=1s,p99=100000s"}}, "between 0 and 3600 s"),
        ({"freeze_at": 0, "freeze_for": "9" * 400}, "freeze_for must be between 0 and 3600"),
        ({"default": {"retry_after": 1e300}}, "retry_after must be a number of seconds between 0 and 3600"),
        # As --freeze-at without --freeze-for is refused: before, a 200 and a freeze that never came.
        ({"freeze_at": "1s"}, 'a freeze needs both freeze_at and freeze_for (e.g. "10s" and "5s"): no freeze_for'),
        ({"freeze_at": 1, "freeze_for": None}, "no freeze_for"),
        ({"freeze_for": "5s"}, 'a freeze needs both freeze_at and freeze_for (e.g. "10s" and "5s"): no freeze_at'),
    ],
)
def test_admin_inputs_are_validated(mock: MockServer, document: dict[str, Any], fragment: str) -> None:
    before = call(mock.url, "GET", "/_admin/faults")[1]
    status, answer = call(mock.url, "PUT", "/_admin/faults", orjson.dumps(document), JSON)
    assert status == 400, answer  # error_rate true and an infinite latency were accepted
    assert fragment in answer["validation_error"]["error_message"]
    assert call(mock.url, "GET", "/_admin/faults")[1] == before


def test_the_harness_sends_the_token_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    import urllib.error

    from simulator.loadtest.reconcile import fetch_mock_stats

    with MockServer(admin_token="t0ken") as mock:
        monkeypatch.delenv("LOADSIM_ADMIN_TOKEN", raising=False)
        monkeypatch.delenv("LOADSIM_ADMIN_TOKEN_FILE", raising=False)
        with pytest.raises(urllib.error.HTTPError, match="401"):
            fetch_mock_stats(mock.url)
        monkeypatch.setenv("LOADSIM_ADMIN_TOKEN", "t0ken")
        assert "stored" in fetch_mock_stats(mock.url)
        monkeypatch.delenv("LOADSIM_ADMIN_TOKEN")
        secret = tmp_path / "token"
        secret.write_text("t0ken\n")  # as a mounted secret file ends
        monkeypatch.setenv("LOADSIM_ADMIN_TOKEN_FILE", str(secret))
        assert "stored" in fetch_mock_stats(mock.url)


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("user=abc", "unknown query parameter 'user'; expected limit, user_id"),
        ("since=xyz&limit=5", "unknown query parameter 'since'; expected limit, user_id"),
        ("user_id=", "user_id is empty: give a user id, or leave it out for every user's events"),
    ],
    ids=["typo", "unknown", "empty-user-id"],
)
def test_an_events_query_it_cannot_honour_is_refused(mock: MockServer, query: str, says: str) -> None:
    """Before: each answered 200 with every user's latest events, so a typo in the filter showed
    another person's events as if they were the asked-for user's."""
    assert ms.post(ms.connect(mock.url), ms.PATHS["events"], ms.event(1))[0] == 200
    status, answer = call(mock.url, "GET", f"/_admin/events?{query}")
    assert (status, answer["validation_error"]["error_message"]) == (400, says), answer


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"garbage", "body is not valid JSON"),
        (b'{"keep": true}', "takes no parameters"),
        (b"[]", "takes no parameters"),
    ],
)
def test_a_reset_with_a_malformed_body_forgets_nothing(mock: MockServer, body: bytes, says: str) -> None:
    # Before: /_admin/reset never read its body: "garbage" (a script's request gone wrong) got a
    # 200 and wiped every counter and stored row, the one admin call that cannot be undone.
    assert ms.post(ms.connect(mock.url), ms.PATHS["events"], ms.event(1))[0] == 200
    kept = mock.stats()["accepted"]["events"]
    status, answer = call(mock.url, "POST", "/_admin/reset", body, JSON)
    assert status == 400, answer
    assert says in answer["validation_error"]["error_message"]
    assert mock.stats()["accepted"]["events"] == kept
    # An empty body and {} still reset, as the harness sends them.
    for ok in (b"", b"{}"):
        assert call(mock.url, "POST", "/_admin/reset", ok, JSON) == (200, {"reset": True})


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/_admin/faults", b'{"default": {"error_rate": 1, "error_rate": 0}}', "default.error_rate: given more"),
        ("/_admin/refuse", b'{"for": 600, "for": 1}', "for: given more than once"),
        ("/_admin/outage", b'{"for": 5, "status": 503, "status": 500}', "status: given more than once"),
    ],
    ids=["faults", "refuse", "outage"],
)
def test_an_admin_body_with_a_repeated_key_changes_nothing(mock: MockServer, path: str, body: bytes, says: str) -> None:
    """Before: each was taken last-wins (200: no errors, refusing for 1 s, an outage of 500s), while
    whoever wrote the key twice, or a reader that keeps the first, meant the other value."""
    faults = call(mock.url, "GET", "/_admin/faults")[1]
    status, answer = call(mock.url, "PUT" if path.endswith("faults") else "POST", path, body, JSON)
    assert status == 400, answer
    assert says in answer["validation_error"]["error_message"]
    assert call(mock.url, "GET", "/_admin/faults")[1] == faults
    assert ms.post(ms.connect(mock.url), ms.PATHS["events"], ms.event(1))[0] == 200  # neither refusing nor out
