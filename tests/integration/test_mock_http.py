"""The mock over real HTTP: a table of bad requests, keep-alive and pipelining, fuzzing, the admin API."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import contract
from simulator.mock import MockServer, digest_all
from simulator.mock.server import MAX_BODY
from tests.integration import mock_support as ms

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer(seed=1) as server:
        yield server


def _with(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with the dotted ``path`` set to ``value`` (``...`` deletes it)."""
    out = copy.deepcopy(body)
    *parents, last = path.split(".")
    node: Any = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is ...:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


BODIES = {"externalIds": ms.session_start(), "identify": ms.identify(), "events": ms.event(who=1)}
NO_UA = {"Content-Type": "application/json"}

# (case id, endpoint or None, method, path, headers, body bytes, status, reason, message fragment)
Case = tuple[str, "str | None", str, str, "dict[str, str] | None", bytes, int, str, str]


def _cases() -> list[Case]:
    cases: list[Case] = []
    for ep, path in ms.PATHS.items():
        ok = orjson.dumps(BODIES[ep])
        cases += [
            (f"{ep}-no-user-agent", ep, "POST", path, NO_UA, ok, 400, "missing_user_agent", "missing CL-User-Agent"),
            (
                f"{ep}-empty-user-agent",
                ep,
                "POST",
                path,
                {**NO_UA, "CL-User-Agent": " "},
                ok,
                400,
                "missing_user_agent",
                "missing CL-User-Agent",
            ),
            (
                f"{ep}-text-plain",
                ep,
                "POST",
                path,
                {**ms.HEADERS, "Content-Type": "text/plain"},
                ok,
                415,
                "unsupported_media_type",
                "Content-Type must be application/json, got 'text/plain'",
            ),
            (
                f"{ep}-no-content-type",
                ep,
                "POST",
                path,
                {"CL-User-Agent": ms.UA},
                ok,
                415,
                "unsupported_media_type",
                "got none",
            ),
            (
                f"{ep}-form",
                ep,
                "POST",
                path,
                {**ms.HEADERS, "Content-Type": "application/x-www-form-urlencoded"},
                b"a=1",
                415,
                "unsupported_media_type",
                "must be application/json",
            ),
            (f"{ep}-truncated-json", ep, "POST", path, None, ok[:-1], 400, "invalid_json", "not valid JSON"),
            (f"{ep}-empty-body", ep, "POST", path, None, b"", 400, "invalid_json", "not valid JSON"),
            (f"{ep}-latin1-body", ep, "POST", path, None, b'{"id": "caf\xe9"}', 400, "invalid_json", "not valid UTF-8"),
            (
                f"{ep}-array-body",
                ep,
                "POST",
                path,
                None,
                b"[]",
                400,
                "invalid_body",
                "body: expected a JSON object, got an array",
            ),
            (f"{ep}-string-body", ep, "POST", path, None, b'"hi"', 400, "invalid_body", "expected a JSON object"),
            (
                f"{ep}-empty-object",
                ep,
                "POST",
                path,
                None,
                b"{}",
                400,
                "invalid_body",
                "uid: required field is missing",
            ),
            (f"{ep}-get", ep, "GET", path, None, b"", 405, "method_not_allowed", "GET is not allowed"),
            (f"{ep}-put", ep, "PUT", path, None, ok, 405, "method_not_allowed", "use POST"),
            (
                f"{ep}-too-large",
                ep,
                "POST",
                path,
                None,
                b" " * (MAX_BODY + 1),
                413,
                "body_too_large",
                f"larger than {MAX_BODY} bytes",
            ),
            (f"{ep}-infinite-number", ep, "POST", path, None, b'{"id": 1e400}', 400, "invalid_json", "infinity"),
        ]

    def field(ep: str, name: str, path: str, value: Any, message: str) -> Case:
        body = orjson.dumps(_with(BODIES[ep], path, value))
        return (f"{ep}-{name}", ep, "POST", ms.PATHS[ep], None, body, 400, "invalid_body", message)

    long = "x" * (contract.MAX_STRING + 1)
    cases += [
        field("externalIds", "no-uid", "uid", ..., "uid: required field is missing"),
        field(
            "externalIds", "uid-other-app", "uid", "other-app" + ms.uid(1)[len(ms.APP) :], "uid: expected the app id"
        ),
        field("externalIds", "sid-no-prefix", "sid", ms.sid(1)[3:], "sid: expected 'CL-' followed by a UUIDv4"),
        field("externalIds", "external-ids-array", "external_ids", [], "external_ids: expected an object"),
        field("externalIds", "no-additional-info", "additional_info", ..., "additional_info: required"),
        field(
            "externalIds",
            "lat-yes",
            "additional_info.limitAdTracking",
            "yes",
            "additional_info.limitAdTracking: expected a boolean",
        ),
        field(
            "externalIds",
            "ext-info-x3",
            "additional_info.extInfoVersion",
            "x3",
            'additional_info.extInfoVersion: expected "i2" or "a2"',
        ),
        field("externalIds", "android-no-aaid", "external_ids.aaid", ..., "external_ids.aaid: required on Android"),
        field("externalIds", "aaid-not-uuid", "external_ids.aaid", "not-a-uuid", "external_ids.aaid: expected a UUID"),
        field(
            "externalIds",
            "cl-user-id-differs",
            "external_ids.customerlabs_user_id",
            ms.uid(2),
            "external_ids.customerlabs_user_id: expected the same user id",
        ),
        field("externalIds", "utm-string", "utm_params", "google", "utm_params: expected an object"),
        field("externalIds", "long-model", "additional_info.deviceModelName", long, "string too long"),
        field("identify", "identify-by-empty", "identify_by", {}, "expected identify_by_email and/or"),
        field("identify", "bad-email", "identify_by.identify_by_email", "nobody", "expected an email address"),
        field("identify", "bad-phone", "identify_by.identify_by_phone", "0800 123", "expected a phone number"),
        field("identify", "added-at-no-z", "added_at", "2026-03-12T05:45:15", "added_at: expected an ISO 8601"),
        field("identify", "added-at-feb-30", "added_at", "2026-02-30T05:45:15Z", "added_at: expected an ISO"),
        # Python's \d takes any script's digits; the published schema's (ECMA) and a collector's do not.
        field("identify", "added-at-arabic-digits", "added_at", "٢٠٢٦-03-12T05:45:15Z", "added_at: expected an ISO"),
        field("identify", "web-source", "event_source", "web", 'event_source: expected "mobile_app"'),
        field("identify", "negative-age", "traits.age", -1, "traits.age: expected at least 0"),
        field("identify", "age-text", "traits.age", "x", "traits.age: expected an integer"),
        field("identify", "no-traits", "traits", ..., "traits: required field is missing"),
        field("identify", "trait-email-bad", "traits.email", "@", "traits.email: expected an email address"),
        field("events", "no-event-name", "event_name", ..., "event_name: required field is missing"),
        field("events", "value-text", "properties.value", "100", "properties.value: expected a number"),
        field("events", "currency-lower", "properties.currency", "usd", "properties.currency: expected an ISO 4217"),
        field("events", "products-object", "products", {}, "products: expected an array"),
        field(
            "events",
            "quantity-zero",
            "products.0.product_quantity",
            0,
            "products[0].product_quantity: expected at least 1",
        ),
        field("events", "product-null", "products.0", None, "products[0]: expected an object, got null"),
        field(
            "events",
            "too-many-products",
            "products",
            [{"product_id": "p"}] * (contract.MAX_PRODUCTS + 1),
            "products: too many items",
        ),
        field("events", "negative-tax", "properties.tax", -1, "properties.tax: expected at least 0"),
        field("events", "sid-null", "sid", None, "sid: expected a string, got null"),
        field("events", "identify-by-array", "identify_by", [], "identify_by: expected an object"),
        # Null and blank where the contract needs a value: each was a 200 (the null read as absent,
        # yet counted as present by the rule across fields; a blank name passed as a name).
        field(
            "identify",
            "identify-by-email-null",
            "identify_by",
            {"identify_by_email": None},
            "identify_by: expected identify_by_email and/or identify_by_phone, got null",
        ),
        field("externalIds", "android-aaid-null", "external_ids.aaid", None, "external_ids.aaid: required on Android"),
        field("events", "event-name-empty", "event_name", "", 'event_name: expected a non-blank string, got ""'),
        field("events", "event-name-spaces", "event_name", "   ", "event_name: expected a non-blank string"),
        field("events", "event-name-whitespace", "event_name", "\t\r\n", "event_name: expected a non-blank string"),
    ]
    ios = ms.session_start(platform="ios")
    ios["external_ids"]["idfa"] = None
    cases.append(
        (
            "externalIds-ios-idfa-null",
            "externalIds",
            "POST",
            ms.PATHS["externalIds"],
            None,
            orjson.dumps(ios),
            400,
            "invalid_body",
            "external_ids.idfa: required on iOS",
        )
    )
    two = _with(_with(BODIES["events"], "uid", 5), "properties.value", "a")
    cases.append(
        (
            "events-two-problems",
            "events",
            "POST",
            ms.PATHS["events"],
            None,
            orjson.dumps(two),
            400,
            "invalid_body",
            "uid: expected a string, got 5; properties.value: expected a number",
        )
    )
    # A key sent twice: orjson keeps the last, a reader of the stored body may take the first. Before:
    # a 200 for the valid second uid, or product_price, with the invalid first one stored beside it.
    event = orjson.dumps(BODIES["events"])
    cases += [
        (
            "events-uid-twice",
            "events",
            "POST",
            ms.PATHS["events"],
            None,
            event[:-1] + b',"uid":' + orjson.dumps(ms.uid(2)) + b"}",
            400,
            "invalid_body",
            "uid: given more than once in one object",
        ),
        (
            "events-product-price-twice",
            "events",
            "POST",
            ms.PATHS["events"],
            None,
            event.replace(b'"product_price":', b'"product_price":"free","product_price":', 1),
            400,
            "invalid_body",
            "products[0].product_price: given more than once in one object",
        ),
        (
            "identify-traits-key-twice-spaced",
            "identify",
            "POST",
            ms.PATHS["identify"],
            None,
            json.dumps(BODIES["identify"], indent=2)
            .replace('"traits": {', '"traits": {"email": "a@b.c", ', 1)
            .encode(),
            400,
            "invalid_body",
            "traits.email: given more than once in one object",
        ),
    ]
    cases += [
        ("unknown-path", None, "POST", "/app/unknown", None, b"{}", 404, "not_found", "no endpoint at /app/unknown"),
        ("webhook-dot-dot", None, "POST", "/webhook/../_admin/stats", None, b"{}", 404, "not_found", "no endpoint"),
        ("webhook-without-source", None, "POST", "/webhook/", None, b"{}", 404, "not_found", "no endpoint"),
        ("root", None, "GET", "/", None, b"", 404, "not_found", "POST /app/externalIds"),
        ("case-matters", None, "POST", "/APP/IDENTIFY", None, b"{}", 404, "not_found", "no endpoint"),
    ]
    return cases


CASES = _cases()


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)


def test_a_body_of_many_repeated_keys_gets_a_short_answer(mock: MockServer) -> None:
    """Before: each repeat was looked up in the list of those found, so 20,000 keys given twice
    (400 KB) held the mock's one loop for about 20 s, and the 400 named all 20,000 (about 1 MB)."""
    members = b",".join(b'"k%d":1,"k%d":2' % (i, i) for i in range(20_000))
    request = ms.raw_request("POST", ms.PATHS["identify"], None, b"{" + members + b"}")
    [(status, _, payload)] = ms.exchange(mock.url, request, timeout=60)
    message = orjson.loads(payload)["validation_error"]["error_message"]
    assert status == 400
    assert message.startswith("k0: given more than once in one object")
    assert "and more keys given more than once" in message
    assert len(payload) < 4096


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def _with_member(body: bytes, member: bytes, after: bytes = b"{") -> bytes:
    """``body`` with ``"x": member`` first in the object that begins at ``after``."""
    return body.replace(after, after + b'"x":' + member + b",", 1)


_EVENT, _SESSION = orjson.dumps(BODIES["events"]), orjson.dumps(BODIES["externalIds"])
#: Bodies orjson reads (up to 1,024 levels) but cannot write back (past 254): what the mock answers
#: with (an echo, a profile, a stored body) would be such a value.
TOO_DEEP = [
    ("events-254-arrays", "POST", ms.PATHS["events"], _with_member(_EVENT, _deep(254))),
    ("events-1000-arrays", "POST", ms.PATHS["events"], _with_member(_EVENT, _deep(1000))),
    (
        "externalIds-echoed-member",
        "POST",
        ms.PATHS["externalIds"],
        _with_member(_SESSION, _deep(300), b'"additional_info":{'),
    ),
    ("admin-faults", "PUT", "/_admin/faults", b'{"x":' + _deep(300) + b"}"),
    ("admin-refuse", "POST", "/_admin/refuse", b'{"for":1,"x":' + _deep(300) + b"}"),
    ("admin-reset", "POST", "/_admin/reset", b'{"x":' + _deep(300) + b"}"),
]


@pytest.mark.parametrize(("method", "path", "body"), [c[1:] for c in TOO_DEEP], ids=[c[0] for c in TOO_DEEP])
def test_a_body_nested_deeper_than_the_mock_writes_gets_a_400_naming_it(
    mock: MockServer, method: str, path: str, body: bytes
) -> None:
    """Before: a 500 "internal error" (orjson.dumps in the repeated-key check stops at 255 levels)."""
    before = mock.stats()
    [(status, _, payload)] = ms.exchange(mock.url, ms.raw_request(method, path, None, body))
    assert status == 400, payload
    assert orjson.loads(payload)["validation_error"]["error_message"].startswith("body: nested too deeply")
    after = mock.stats()
    kept = ("accepted", "faults", "profiles")  # nothing stored, refused or reset
    assert {k: after[k] for k in kept} == {k: before[k] for k in kept}


def test_a_body_as_deep_as_the_mock_writes_is_accepted(mock: MockServer) -> None:
    body = _with_member(_EVENT, _deep(253))  # 254 levels with the body's own object
    [(status, _, payload)] = ms.exchange(mock.url, ms.raw_request("POST", ms.PATHS["events"], None, body))
    assert (status, payload) == (200, b"")


def test_a_stored_body_as_deep_as_the_mock_writes_is_served_by_the_admin_api_byte_for_byte(mock: MockServer) -> None:
    """Before: GET /_admin/events answered 500 until a reset once such a body was stored (251
    levels and more): it parsed each body again and wrote it 3 levels deeper, past orjson's 254."""
    body = _with_member(_EVENT, _deep(253)).replace(b"{", b"{ ", 1)  # not as orjson writes it
    [(status, _, _)] = ms.exchange(mock.url, ms.raw_request("POST", "/webhook/deep", None, body))
    assert status == 200
    [(status, _, payload)] = ms.exchange(mock.url, ms.raw_request("GET", "/_admin/events?limit=1", {}))
    assert status == 200, payload
    assert body in payload
    [event] = orjson.loads(payload)["events"]
    assert (event["source"], event["body"]) == ("deep", orjson.loads(body))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_request_gets_its_status_and_message_and_is_counted(mock: MockServer, case: Case) -> None:
    _, endpoint, method, path, headers, body, status, reason, fragment = case
    before = mock.stats()
    [(got, hdrs, payload)] = ms.exchange(mock.url, ms.raw_request(method, path, headers, body))
    assert got == status, payload
    message = orjson.loads(payload)["validation_error"]["error_message"]
    assert fragment in message
    if status == 405:
        assert hdrs["allow"] == "POST"
    after = mock.stats()
    assert after["rejections_by_reason"].get(reason, 0) == before["rejections_by_reason"].get(reason, 0) + 1
    for ep in ms.PATHS:
        assert after["rejected"][ep] == before["rejected"][ep] + (ep == endpoint)
        assert after["accepted"][ep] == before["accepted"][ep]
    # Still up, still accepting.
    conn = ms.connect(mock.url)
    assert ms.post(conn, ms.PATHS["events"], BODIES["events"])[0] == 200
    assert mock.stats()["accepted"]["events"] == before["accepted"]["events"] + 1


@pytest.mark.parametrize("app_length", [1, 63, 64])
@pytest.mark.parametrize("separator", ["", "_"], ids=["joined", "underscore"])
def test_a_uid_of_any_valid_app_id_is_accepted_with_either_separator(
    mock: MockServer, app_length: int, separator: str
) -> None:
    # DESIGN.md: the mock accepts uid = app id + UUIDv4 with or without "_". Before: a 64-character
    # app id with "_" got 400 "uid: expected the app id followed by a UUIDv4" (65 characters before
    # the UUID, where the app id's pattern allows 64).
    app = "a" * app_length
    body = _with(_with(BODIES["events"], "id", app), "uid", app + separator + ms.uid(1)[len(ms.APP) :])
    [(status, _, payload)] = ms.exchange(mock.url, ms.raw_request("POST", ms.PATHS["events"], None, orjson.dumps(body)))
    assert (status, payload) == (200, b"")


def test_malformed_http_gets_400_and_the_connection_closes(mock: MockServer) -> None:
    [(status, headers, payload)] = ms.exchange(mock.url, b"HELLO /x\x00 HTTP/9\r\n\r\n")
    assert status == 400
    assert headers["connection"] == "close"
    assert "malformed HTTP request" in orjson.loads(payload)["validation_error"]["error_message"]
    assert ms.get_json(ms.connect(mock.url), "/_admin/health") == {"status": "ok"}


def test_answers_name_every_endpoint_shape(mock: MockServer) -> None:
    conn = ms.connect(mock.url)
    status, body = ms.post(conn, ms.PATHS["externalIds"], BODIES["externalIds"])
    assert status == 200 and not contract.validate_response("externalIds", 200, orjson.loads(body))
    status, body = ms.post(conn, ms.PATHS["identify"], BODIES["identify"])
    assert status == 200 and not contract.validate_response("identify", 200, orjson.loads(body))
    assert orjson.loads(body)["user_traits"]["email"] == "ada1@example.com"
    status, body = ms.post(conn, ms.PATHS["events"], BODIES["events"])
    assert (status, body) == (200, b"")


def test_keep_alive_serves_many_requests_on_one_connection(mock: MockServer) -> None:
    conn = ms.connect(mock.url)
    before = mock.stats()["accepted"]["events"]
    for i in range(200):
        assert ms.post(conn, "/webhook/keepalive", ms.event(1, value=i))[0] == 200
    assert mock.stats()["accepted"]["events"] == before + 200
    assert mock.stats()["webhook_sources"]["keepalive"] == 200


def test_pipelined_requests_are_answered_in_order(mock: MockServer) -> None:
    reqs = [
        ms.raw_request("POST", ms.PATHS["events"], None, orjson.dumps(BODIES["events"])),
        ms.raw_request("POST", ms.PATHS["events"], None, b"{}"),
        ms.raw_request("GET", "/nowhere"),
        ms.raw_request("POST", ms.PATHS["externalIds"], None, orjson.dumps(BODIES["externalIds"])),
        ms.raw_request("POST", ms.PATHS["events"], NO_UA, orjson.dumps(BODIES["events"])),
    ]
    answers = ms.exchange(mock.url, b"".join(reqs), count=len(reqs))
    assert [a[0] for a in answers] == [200, 400, 404, 200, 400]
    assert orjson.loads(answers[3][2])["user_id"] == ms.uid(1)


def test_connection_close_is_honoured(mock: MockServer) -> None:
    req = ms.raw_request(
        "POST", ms.PATHS["events"], {**ms.HEADERS, "Connection": "close"}, orjson.dumps(BODIES["events"])
    )
    [(status, headers, _)] = ms.exchange(mock.url, req)
    assert status == 200 and headers["connection"] == "close"


def test_expect_100_continue_is_answered(mock: MockServer) -> None:
    body = orjson.dumps(BODIES["events"])
    head = ms.raw_request("POST", ms.PATHS["events"], {**ms.HEADERS, "Expect": "100-continue"}, body)
    head = head[: len(head) - len(body)]
    import socket

    with socket.create_connection(ms.address(mock.url), timeout=5) as sock:
        sock.sendall(head)
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        assert sock.recv(100).startswith(b"HTTP/1.1 200 OK")


def test_admin_api(mock: MockServer) -> None:
    conn = ms.connect(mock.url)
    assert ms.get_json(conn, "/_admin/health") == {"status": "ok"}
    doc = ms.get_json(conn, "/_admin/openapi.json")
    assert {"/app/externalIds", "/app/identify", "/webhook/{source}", "/_admin/stats"} <= doc["paths"].keys()
    from openapi_spec_validator import validate

    validate(doc)
    stats = ms.get_json(conn, "/_admin/stats")
    for key in (
        "accepted",
        "rejected",
        "rejections_by_reason",
        "webhook_sources",
        "profiles",
        "merges",
        "warnings",
        "digest",
    ):
        assert key in stats
    assert stats == {**mock.stats(), "uptime_s": stats["uptime_s"], "connections": stats["connections"]}
    assert set(stats["accepted"]) == set(stats["rejected"]) == set(stats["digest"]) == set(ms.PATHS)
    conn.request("DELETE", "/_admin/stats")
    resp = conn.getresponse()
    assert resp.status == 405 and resp.getheader("Allow") == "GET"
    resp.read()
    conn.request("GET", "/_admin/nothing")
    resp = conn.getresponse()
    assert resp.status == 404
    resp.read()
    conn.request("GET", "/_admin/events?limit=zero")
    resp = conn.getresponse()
    assert resp.status == 400 and b"limit must be" in resp.read()


@pytest.mark.parametrize(
    ("method", "target", "says"),
    [
        # Before: the last of each was taken (the events of the second user, as if filtered by both).
        ("GET", "/_admin/events?limit=1&limit=2", "'limit' given 2 times; give it once"),
        ("GET", f"/_admin/events?user_id={ms.uid(2)}&user_id={ms.uid(1)}", "'user_id' given 2 times; give it once"),
        # Before: every counter, as if filtered; a health check with a parameter it never read.
        ("GET", "/_admin/stats?endpoint=events", "GET /_admin/stats takes no query parameters; got 'endpoint'"),
        ("GET", "/_admin/health?deep=1", "GET /_admin/health takes no query parameters; got 'deep'"),
        ("GET", "/_admin/faults?x", "GET /_admin/faults takes no query parameters; got 'x'"),
        ("GET", f"/_admin/profiles/{ms.uid(1)}?merged=0", f"GET /_admin/profiles/{ms.uid(1)} takes no query"),
        # Before: everything stored was wiped, whatever the query asked.
        ("POST", "/_admin/reset?dry_run=1", "POST /_admin/reset takes no query parameters; got 'dry_run'"),
    ],
)
def test_an_admin_query_it_cannot_honour_is_a_400_naming_it(method: str, target: str, says: str) -> None:
    with MockServer(seed=1) as mock:
        conn = ms.connect(mock.url)
        assert ms.post(conn, ms.PATHS["externalIds"], BODIES["externalIds"])[0] == 200
        assert ms.post(conn, ms.PATHS["events"], BODIES["events"])[0] == 200
        if method == "POST":
            conn.request(method, target, body=b"", headers={"Content-Type": "application/json"})
        else:
            conn.request(method, target)
        resp = conn.getresponse()
        message = orjson.loads(resp.read())["validation_error"]["error_message"]
        assert resp.status == 400 and message.startswith(says), message
        assert mock.stats()["accepted"] == {"externalIds": 1, "identify": 0, "events": 1}, "nothing forgotten"


def test_reset_forgets_everything_and_digest_matches_client_side() -> None:
    with MockServer() as mock:
        conn = ms.connect(mock.url)
        sent = [orjson.dumps(ms.event(1, value=i)) for i in range(25)]
        for body in sent:
            assert ms.post(conn, "/webhook/a", body)[0] == 200
        assert ms.post(conn, "/webhook/a", b"{}")[0] == 400
        stats = mock.stats()
        assert stats["digest"]["events"] == digest_all(reversed(sent))
        assert stats["digest"]["externalIds"] == 0
        conn.request("POST", "/_admin/reset", headers={"Content-Type": "application/json"})
        assert conn.getresponse().read() == b'{"reset":true}'
        stats = mock.stats()
        assert stats["accepted"]["events"] == 0 and stats["digest"]["events"] == 0 and stats["profiles"] == 0
        assert ms.get_json(conn, "/_admin/events")["events"] == []


# --- fuzzing: no input gets a 500 -----------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=6),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        "id",
        "uid",
        "sid",
        "external_ids",
        "additional_info",
        "utm_params",
        "event_name",
        "event_source",
        "added_at",
        "identify_by",
        "properties",
        "products",
        "traits",
        "external_ids.aaid",
        "additional_info.limitAdTracking",
        "identify_by.identify_by_email",
        "properties.value",
        "products.0.product_quantity",
        "traits.age",
    ]
)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    ep = draw(st.sampled_from(list(ms.PATHS)))
    body: Any = BODIES[ep]
    for _ in range(draw(st.integers(0, 3))):
        with contextlib.suppress(KeyError, IndexError, TypeError, ValueError):  # path absent: keep as is
            body = _with(body, draw(keys), draw(st.just(...) | json_values))
    return ep, orjson.dumps(body)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    case=mutated() | st.tuples(st.sampled_from(list(ms.PATHS)), st.binary(max_size=200)),
    content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/json"]) | header_text,
    user_agent=header_text,
)
def test_fuzzed_bodies_and_headers_never_get_a_500(
    mock: MockServer, case: tuple[str, bytes], content_type: str, user_agent: str
) -> None:
    ep, body = case
    before = mock.stats()
    headers = {"Content-Type": content_type, "CL-User-Agent": user_agent}
    [(status, _, payload)] = ms.exchange(mock.url, ms.raw_request("POST", ms.PATHS[ep], headers, body))
    assert status in (200, 400, 415), payload
    if status == 200:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        assert contract.validate(ep, parsed) == []
    after = mock.stats()
    accepted = after["accepted"][ep] - before["accepted"][ep]
    rejected = after["rejected"][ep] - before["rejected"][ep]
    assert (accepted, rejected) == ((1, 0) if status == 200 else (0, 1))


def test_head_gets_headers_only_and_the_connection_stays_usable(mock: MockServer) -> None:
    conn = ms.connect(mock.url)
    for path, status in (("/app/identify", 405), ("/_admin/health", 405), ("/nowhere", 404)):
        conn.request("HEAD", path)
        resp = conn.getresponse()
        assert resp.status == status and resp.read() == b""
    assert ms.get_json(conn, "/_admin/health") == {"status": "ok"}


def test_a_bug_in_the_mock_is_a_500_that_says_so_not_a_400(monkeypatch: pytest.MonkeyPatch) -> None:
    from simulator.mock.state import CollectorState

    def broken(self: CollectorState, body: dict[str, Any], now: float) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(CollectorState, "event", broken)
    with MockServer() as mock:
        [(status, headers, payload)] = ms.exchange(
            mock.url, ms.raw_request("POST", ms.PATHS["events"], None, orjson.dumps(BODIES["events"]))
        )
        assert status == 500 and headers["connection"] == "close"
        assert b"a bug" in payload
        assert mock.stats()["rejections_by_reason"] == {"internal_error": 1}
        assert ms.get_json(ms.connect(mock.url), "/_admin/health") == {"status": "ok"}


# --- Upgrade: the mock speaks HTTP/1.1 only, and says so by ignoring the offer ---

H2C = {"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABkAAQCAAAAAAIAAAAA"}


def _chunked(body: bytes) -> bytes:
    half = len(body) // 2
    return b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, body[:half], len(body) - half, body[half:])


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("split", [False, True], ids=["one-write", "head-then-body"])
def test_an_h2c_upgrade_is_ignored_and_its_body_handled_like_any_post(
    mock: MockServer, framing: str, split: bool
) -> None:
    # Java's RestClient and Ktor offer h2c on every POST; a server without h2c answers in HTTP/1.1
    # (RFC 9113 §3.1, RFC 9110 §7.8). This POST was answered 400 "empty body" and the connection
    # closed: the parser skipped the body of what it took for a protocol switch.
    import socket

    bodies = [orjson.dumps(ms.event(3, value=v)) for v in (31.0, 32.0)]
    headers = {**ms.HEADERS, **H2C}
    if framing == "chunked":
        headers["Transfer-Encoding"] = "chunked"
        head = ms.raw_request("POST", "/webhook/h2c", headers, content_length=False)
        first_body = _chunked(bodies[0])
    else:
        head = ms.raw_request("POST", "/webhook/h2c", headers, bodies[0])[: -len(bodies[0])]
        first_body = bodies[0]
    follow_up = ms.raw_request("POST", "/webhook/h2c", None, bodies[1])
    before = mock.stats()
    with socket.create_connection(ms.address(mock.url), timeout=10) as sock:
        if split:  # as Ktor writes: the head, then the body in its own segment
            sock.sendall(head)
            sock.sendall(first_body + follow_up)
        else:
            sock.sendall(head + first_body + follow_up)
        f = sock.makefile("rb")
        answers = [ms.read_response(f) for _ in range(2)]
    assert [(status, body) for status, _, body in answers] == [(200, b""), (200, b"")]
    assert all("upgrade" not in h for _, h, _ in answers)
    after = mock.stats()
    assert after["accepted"]["events"] == before["accepted"]["events"] + 2
    assert after["digest"]["events"] == (before["digest"]["events"] + digest_all(bodies)) & ((1 << 64) - 1)


def test_an_h2c_upgrade_on_an_invalid_post_gets_the_400_of_its_own_body(mock: MockServer) -> None:
    body = orjson.dumps(_with(BODIES["events"], "properties.value", "a lot"))
    req = ms.raw_request("POST", ms.PATHS["events"], {**ms.HEADERS, **H2C}, body)
    [(status, _, payload)] = ms.exchange(mock.url, req)
    assert status == 400
    assert "properties.value: expected a number" in orjson.loads(payload)["validation_error"]["error_message"]


def test_many_h2c_offers_pipelined_in_one_write_are_all_answered_in_order(mock: MockServer) -> None:
    bodies = [orjson.dumps(ms.event(4, value=v)) for v in range(300)]
    reqs = [ms.raw_request("POST", "/webhook/h2c-many", {**ms.HEADERS, **H2C}, b) for b in bodies]
    reqs[7] = ms.raw_request("POST", "/webhook/h2c-many", {**ms.HEADERS, **H2C}, b"{}")
    answers = ms.exchange(mock.url, b"".join(reqs), count=len(reqs))
    assert [a[0] for a in answers] == [400 if i == 7 else 200 for i in range(len(reqs))]


# --- HTTP/1.0: a connection persists only when the answer says so (RFC 9112 §9.3) ---


def _http10(headers: dict[str, str], body: bytes) -> bytes:
    return ms.raw_request("POST", ms.PATHS["events"], headers, body).replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1)


def test_http10_keep_alive_is_answered_keep_alive_and_the_connection_kept(mock: MockServer) -> None:
    # RFC 9112 §9.3: an HTTP/1.0 connection persists only if the answer says keep-alive; the mock
    # kept the connection open but did not say so, so the client closed it (or waited for EOF).
    import socket

    req = _http10({**ms.HEADERS, "Connection": "keep-alive"}, orjson.dumps(BODIES["events"]))
    with socket.create_connection(ms.address(mock.url), timeout=10) as sock:
        f = sock.makefile("rb")
        for _ in range(3):
            sock.sendall(req)
            status, headers, _ = ms.read_response(f)
            assert status == 200 and headers.get("connection", "").lower() == "keep-alive", headers


def test_plain_http10_gets_its_answer_then_the_connection_closes(mock: MockServer) -> None:
    import socket

    with socket.create_connection(ms.address(mock.url), timeout=10) as sock:
        sock.sendall(_http10(ms.HEADERS, orjson.dumps(BODIES["events"])))
        f = sock.makefile("rb")
        status, headers, _ = ms.read_response(f)
        assert status == 200 and headers.get("connection", "").lower() != "keep-alive"
        assert f.read(1) == b""  # EOF, within the socket's timeout
