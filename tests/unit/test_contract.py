"""The contract: every malformed body is reported at the right path; nothing ever raises."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import contract

APP = "shop-app"
UID = f"{APP}4f7c2a9e-1b3d-4c5e-8f9a-0b1c2d3e4f5a"
SID = "CL-9b2e4c6a-8d0f-4a1b-9c3d-5e7f9a1b3c5d"
IDFA = "6D92078A-8246-4BA4-AE5B-76104861E7DC"

EXTERNAL_IDS = {
    "idfa": IDFA,
    "google_analytics__app_instance_id": "a3f9c1e27b4d4e8f9a0b1c2d3e4f5a6b",
    "google_analytics__app_session_id": "1773294315",
    "customerlabs_user_id": UID,
}
VALID: dict[str, dict[str, Any]] = {
    "externalIds": {
        "id": APP,
        "uid": UID,
        "sid": SID,
        "external_ids": EXTERNAL_IDS,
        "additional_info": {
            "limitAdTracking": False,
            "extInfoVersion": "i2",
            "fcmToken": "x:APA91b",
            "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)",
            "deviceModelName": "iPhone15,2",
            "osVersion": "17.5",
            "screenWidth": "393",
        },
        "utm_params": {"utm_source": "google", "utm_medium": "cpc"},
    },
    "identify": {
        "id": APP,
        "uid": UID,
        "sid": SID,
        "event_source": "mobile_app",
        "added_at": "2026-03-12T05:45:15Z",
        "identify_by": {"identify_by_email": "nelson@example.com", "identify_by_phone": "+15555550123"},
        "traits": {"first_name": "Nelson", "email": "nelson@example.com", "age": 25, "zip": "400601"},
        "external_ids": EXTERNAL_IDS,
    },
    "events": {
        "id": APP,
        "uid": UID,
        "sid": SID,
        "event_name": "Purchase",
        "event_source": "mobile_app",
        "added_at": "2026-03-12T05:45:15Z",
        "identify_by": {},
        "properties": {
            "value": 120,
            "currency": "USD",
            "transaction_id": "TXN-1",
            "shipping": 10,
            "tax": 10,
            "discount": 0,
        },
        "products": [{"product_id": "SKU-1", "product_name": "Shoes", "product_price": 100, "product_quantity": 1}],
    },
}
DROP = object()


def mutate(endpoint: str, path: str, value: Any) -> dict[str, Any]:
    """A valid body with the field at dotted ``path`` replaced by ``value`` (or removed with DROP)."""
    body = copy.deepcopy(VALID[endpoint])
    *parents, last = path.replace("[", ".[").split(".")
    node: Any = body
    for key in parents:
        node = node[int(key[1:-1])] if key.startswith("[") else node[key]
    key: Any = int(last[1:-1]) if last.startswith("[") else last
    if value is DROP:
        del node[key]
    else:
        node[key] = value
    return body


# (endpoint, field path to change, new value, path expected in the report, words expected in the message)
CASES: list[tuple[str, str, Any, str, str]] = [
    # every required field missing, each endpoint
    *[
        ("externalIds", f, DROP, f, "required field is missing")
        for f in (
            "id",
            "uid",
            "sid",
            "external_ids",
            "additional_info",
            "additional_info.limitAdTracking",
            "additional_info.extInfoVersion",
        )
    ],
    *[
        ("identify", f, DROP, f, "required field is missing")
        for f in ("id", "uid", "sid", "event_source", "added_at", "identify_by", "traits", "external_ids")
    ],
    *[
        ("events", f, DROP, f, "required field is missing")
        for f in ("id", "uid", "sid", "event_name", "event_source", "added_at", "identify_by", "properties")
    ],
    # wrong types and nulls
    (
        "externalIds",
        "additional_info.limitAdTracking",
        "maybe",
        "additional_info.limitAdTracking",
        'expected a boolean, got "maybe"',
    ),
    ("externalIds", "additional_info.limitAdTracking", 1, "additional_info.limitAdTracking", "expected a boolean"),
    (
        "externalIds",
        "additional_info.limitAdTracking",
        None,
        "additional_info.limitAdTracking",
        "expected a boolean, got null",
    ),
    ("externalIds", "additional_info.screenWidth", 393, "additional_info.screenWidth", "expected a string, got 393"),
    ("externalIds", "external_ids", [], "external_ids", "expected an object, got an array"),
    ("externalIds", "additional_info", "{}", "additional_info", "expected an object"),
    ("externalIds", "utm_params", "google", "utm_params", "expected an object"),
    ("externalIds", "utm_params.utm_source", 7, "utm_params.utm_source", "expected a string"),
    ("externalIds", "id", None, "id", "expected a string, got null"),
    ("identify", "traits.age", "25", "traits.age", 'expected an integer, got "25"'),
    ("identify", "traits.age", True, "traits.age", "expected an integer, got true"),
    ("identify", "traits.age", -1, "traits.age", "expected at least 0"),
    ("identify", "traits", [], "traits", "expected an object, got an array"),
    ("events", "properties.value", "100", "properties.value", 'expected a number, got "100"'),
    ("events", "properties.value", False, "properties.value", "expected a number, got false"),
    ("events", "products", {}, "products", "expected an array, got an object"),
    ("events", "products[0].product_price", "100", "products[0].product_price", "expected a number"),
    ("events", "products[0].product_quantity", 0, "products[0].product_quantity", "expected at least 1"),
    ("events", "products[0].product_quantity", 1.5, "products[0].product_quantity", "expected an integer"),
    ("events", "products[0]", "SKU-1", "products[0]", "expected an object"),
    ("events", "event_name", None, "event_name", "expected a string, got null"),
    ("events", "properties.shipping", -5, "properties.shipping", "expected at least 0"),
    ("events", "properties.currency", "usd", "properties.currency", "ISO 4217"),
    # identifiers and formats
    ("externalIds", "uid", "shop-app-12345", "uid", "the app id followed by a UUIDv4"),
    ("externalIds", "uid", "other-app4f7c2a9e-1b3d-4c5e-8f9a-0b1c2d3e4f5a", "uid", 'app id "shop-app"'),
    ("externalIds", "uid", f"{APP}4f7c2a9e-1b3d-1c5e-8f9a-0b1c2d3e4f5a", "uid", "UUIDv4"),  # version 1
    ("externalIds", "sid", "9b2e4c6a-8d0f-4a1b-9c3d-5e7f9a1b3c5d", "sid", "'CL-' followed by a UUIDv4"),
    ("externalIds", "sid", "CL-9b2e4c6a-8d0f-4a1b-7c3d-5e7f9a1b3c5d", "sid", "UUIDv4"),  # bad variant
    ("externalIds", "id", "", "id", "an app id"),
    ("externalIds", "external_ids.idfa", "not-a-uuid", "external_ids.idfa", "a UUID"),
    ("externalIds", "external_ids.idfa", DROP, "external_ids.idfa", "required on iOS"),
    (
        "externalIds",
        "additional_info.extInfoVersion",
        "ios",
        "additional_info.extInfoVersion",
        'expected "i2" or "a2", got "ios"',
    ),
    (
        "externalIds",
        "external_ids.customerlabs_user_id",
        f"{APP}9b2e4c6a-8d0f-4a1b-9c3d-5e7f9a1b3c5d",
        "external_ids.customerlabs_user_id",
        "expected the same user id as uid",
    ),
    ("identify", "added_at", "2026-03-12 05:45:15", "added_at", "ISO 8601 UTC"),
    ("identify", "added_at", "2026-03-12T11:15:15+05:30", "added_at", "ending in Z"),
    ("identify", "added_at", "2026-13-12T05:45:15Z", "added_at", "ISO 8601"),
    ("identify", "added_at", 1773294315, "added_at", "expected a string, got 1773294315"),
    ("identify", "event_source", "web", "event_source", 'expected "mobile_app", got "web"'),
    ("identify", "identify_by", {}, "identify_by", "identify_by_email and/or identify_by_phone"),
    # a null names nobody: it reads as absent, in the rules across fields too
    ("identify", "identify_by", {"identify_by_email": None}, "identify_by", "and/or identify_by_phone, got null"),
    ("externalIds", "external_ids.idfa", None, "external_ids.idfa", "required on iOS"),
    # a blank string is no value for a required field
    ("events", "event_name", "", "event_name", 'expected a non-blank string, got ""'),
    ("events", "event_name", " \t\n", "event_name", "expected a non-blank string"),
    ("identify", "identify_by.identify_by_email", "nelson", "identify_by.identify_by_email", "email address"),
    ("identify", "identify_by.identify_by_phone", "08424032105", "identify_by.identify_by_phone", "E.164"),
    ("identify", "traits.email", "not an email", "traits.email", "email address"),
    ("events", "identify_by", None, "identify_by", "expected an object, got null"),
    # huge strings and unicode
    ("events", "event_name", "x" * 100_000, "event_name", "string too long (100000 characters"),
    ("externalIds", "additional_info.carrier", "é" * 5000, "additional_info.carrier", "string too long"),
    ("identify", "uid", "shop-app\u00e94f7c2a9e-1b3d-4c5e-8f9a-0b1c2d3e4f5a", "uid", "the app id followed"),
]


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("endpoint", list(VALID))
def test_reference_shaped_bodies_are_valid(endpoint: str) -> None:
    assert contract.validate(endpoint, VALID[endpoint]) == []


@pytest.mark.parametrize(
    ("endpoint", "path", "value", "where", "words"), CASES, ids=[f"{c[0]}:{c[1]}:{str(c[2])[:12]}" for c in CASES]
)
def test_malformed_body_reports_the_exact_path(endpoint: str, path: str, value: Any, where: str, words: str) -> None:
    problems = contract.validate(endpoint, mutate(endpoint, path, value))
    assert [p.path for p in problems] == [where], problems
    assert words in problems[0].message, problems[0]
    assert len(str(problems[0])) < 200  # a person reads it; huge values are cut short


@pytest.mark.parametrize("body", [None, [], [VALID["events"]], "body", 12, 1.5, True, b"".decode()])
def test_non_object_json_is_one_problem_at_the_root(body: Any) -> None:
    (problem,) = contract.validate("events", body)
    assert problem.path == "body" and problem.message.startswith("expected a JSON object")


def test_several_problems_are_all_reported() -> None:
    body = mutate("events", "sid", "nope")
    body["properties"]["value"] = "lots"
    del body["added_at"]
    paths = {p.path for p in contract.validate("events", body)}
    assert paths == {"sid", "properties.value", "added_at"}


def test_message_reads_as_the_issue_gives_it() -> None:
    body = mutate("externalIds", "additional_info.limitAdTracking", "maybe")
    assert [str(p) for p in contract.validate("externalIds", body)] == [
        'additional_info.limitAdTracking: expected a boolean, got "maybe"'
    ]


@pytest.mark.parametrize("value", ["true", "false", True, False])
def test_limit_ad_tracking_accepts_booleans_and_sdk_strings(value: Any) -> None:
    assert contract.validate("externalIds", mutate("externalIds", "additional_info.limitAdTracking", value)) == []


@pytest.mark.parametrize(
    "uid",
    [
        f"{APP}_4f7c2a9e-1b3d-4c5e-8f9a-0b1c2d3e4f5a",  # the sample code's separator
        f"{APP}4F7C2A9E-1B3D-4C5E-8F9A-0B1C2D3E4F5A",  # iOS prints upper case
    ],
)
def test_user_id_forms_the_design_accepts(uid: str) -> None:
    body = mutate("events", "uid", uid)
    assert contract.validate("events", body) == []


def test_optional_null_reads_as_absent_and_unknown_keys_are_allowed() -> None:
    body = mutate("events", "products", None)
    body["custom_sdk_field"] = {"anything": [1, 2]}
    assert contract.validate("events", body) == []


def test_unknown_endpoint_is_a_problem_not_an_exception() -> None:
    assert contract.validate("nope", {})[0].path == "endpoint"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=6),
    max_leaves=30,
)


@st.composite
def near_valid_bodies(draw: st.DrawFn) -> tuple[str, Any]:
    """A valid body with random fields replaced by random JSON: the shapes a fuzzer reaches slowly."""
    endpoint = draw(st.sampled_from(list(VALID)))
    body = copy.deepcopy(VALID[endpoint])
    for _ in range(draw(st.integers(1, 4))):
        node = body
        while isinstance(node, dict) and node and draw(st.booleans()):
            child = node[draw(st.sampled_from(sorted(node)))]
            if not isinstance(child, dict):
                break
            node = child
        if isinstance(node, dict) and node:
            node[draw(st.sampled_from(sorted(node)))] = draw(json_values)
    return endpoint, body


@settings(max_examples=300, derandomize=True)
@given(st.sampled_from(list(VALID)), json_values)
def test_validate_never_raises_on_arbitrary_json(endpoint: str, body: Any) -> None:
    problems = contract.validate(endpoint, body)
    assert all(isinstance(p, contract.Problem) for p in problems)


@settings(max_examples=300, derandomize=True)
@given(near_valid_bodies())
def test_validate_never_raises_on_near_valid_bodies(case: tuple[str, Any]) -> None:
    endpoint, body = case
    body = orjson.loads(orjson.dumps(body))  # exactly what a server would have decoded
    for p in contract.validate(endpoint, body):
        assert p.path and p.message


def _required_strings(fields: tuple[contract.Field, ...], prefix: str = "") -> list[str]:
    out = []
    for f in fields:
        path = f"{prefix}.{f.name}" if prefix else f.name
        if f.type == "string" and f.required:
            out.append(path)
        elif f.type == "object" and f.required:
            out += _required_strings(f.fields, path)
    return out


REQUIRED_STRINGS = [(ep, path) for ep in VALID for path in _required_strings(contract.ENDPOINTS[ep].body)]


def test_every_endpoint_has_required_strings() -> None:
    assert {p for _, p in REQUIRED_STRINGS} >= {"id", "uid", "sid", "event_name", "additional_info.extInfoVersion"}


@pytest.mark.parametrize("blank", ["", " ", "\t\r\n", "\u00a0"])
@pytest.mark.parametrize(("endpoint", "path"), REQUIRED_STRINGS, ids=[f"{e}:{p}" for e, p in REQUIRED_STRINGS])
def test_no_required_string_accepts_a_blank(endpoint: str, path: str, blank: str) -> None:
    problems = contract.validate(endpoint, mutate(endpoint, path, blank))
    assert [p.path for p in problems] == [path], problems


def _patterns(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "pattern":
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _patterns(value)


def test_the_published_patterns_mean_the_same_in_every_regex_engine() -> None:
    """A JSON Schema pattern is an ECMA-262 regex, the mock's is Python's: their \\d, \\s and \\w differ
    (Python's \\d takes Arabic-Indic digits; \\s differs on U+001C..U+001F, U+0085, U+FEFF), so a
    client checking bodies against the published schema and the mock disagreed. Explicit classes only."""
    patterns = set(_patterns(contract.openapi()))
    assert len(patterns) >= 5
    for pattern in patterns:
        assert not re.search(r"\\[dDsSwWbB]", pattern), pattern


def test_a_blank_is_what_the_published_schema_calls_one() -> None:
    """Every code point alone, and after a space: blank() and the schema's not-blank pattern agree."""
    not_blank = re.compile(contract.NOT_BLANK)
    for code in range(0x110000):
        if 0xD800 <= code < 0xE000:
            continue
        c = chr(code)
        assert contract.blank(c) == (not_blank.search(c) is None), hex(code)
        assert contract.blank(" " + c) == (not_blank.search(" " + c) is None), hex(code)


def test_a_null_identify_by_value_is_absent_beside_a_real_one() -> None:
    # Null reads as absent (SDKs send it for "not known"): the phone alone identifies.
    body = mutate("identify", "identify_by.identify_by_email", None)
    assert contract.validate("identify", body) == []


def test_responses_of_the_reference_shape() -> None:
    ok = {"user_id": UID, "external_ids": {}, "additional_info": {}}
    assert contract.validate_response("externalIds", 200, ok) == []
    assert contract.validate_response("identify", 200, ok)[0].path == "user_traits"
    assert contract.validate_response("events", 200, b"") == []
    assert contract.validate_response("events", 400, contract.error_body("sid: missing")) == []
    assert contract.validate_response("events", 400, {"error": "x"})[0].path == "validation_error"
    assert contract.validate_response("externalIds", 200, {**ok, "user_id": " "})[0].path == "user_id"
    (problem,) = contract.validate_response("events", 400, contract.error_body(""))
    assert problem.path == "validation_error.error_message"


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/app/externalIds", "externalIds"),
        ("/app/identify", "identify"),
        ("/webhook/src-1", "events"),
        ("/webhook/", None),
        ("/webhook/a/b", "events"),
        # A segment a client or proxy resolves is no source (before: stored as the source "../_admin/stats").
        ("/webhook/../_admin/stats", None),
        ("/webhook/./src-1", None),
        ("/webhook/src-1/..", None),
        ("/webhook/%2e%2E/x", None),
        ("/webhook/src-1//x", None),
        ("/app/externalids", None),
        ("/", None),
    ],
)
def test_paths_route_to_endpoints(path: str, endpoint: str | None) -> None:
    assert contract.endpoint_for_path(path) == endpoint
