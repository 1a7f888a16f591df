"""How a Locust user judges one answer: the outcome, the error kind the report groups by, an example."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from simulator import contract
from simulator.journey import Request
from simulator.loadtest.user import _judge

UID = "shop_app-0b6f4c1e-8d2a-4f3b-9c5e-7a1d2e3f4a5b"
ANSWER = {"user_id": UID, "external_ids": {}, "additional_info": {}}


def request(endpoint: str = "events", *, fault: str | None = None) -> Request:
    step = "event:Purchase" if endpoint == "events" else endpoint
    return Request(endpoint, step, {"uid": UID}, 0.0, {}, fault is not None, fault, 0)


def test_the_answer_used_below_is_one_the_contract_accepts() -> None:
    assert contract.validate_response("externalIds", 200, ANSWER) == []


@pytest.mark.parametrize(
    ("req", "status", "content", "error", "expected"),
    [
        pytest.param(request(), 200, b"", None, ("ok", None, None), id="events 200, no body"),
        pytest.param(
            request("externalIds"),
            200,
            orjson.dumps(ANSWER),
            None,
            ("ok", None, None),
            id="externalIds 200 on contract",
        ),
        pytest.param(
            request("identify"),
            200,
            b"<html>",
            None,
            ("failure", "200 body not JSON", "identify answered 200 with a body that is not JSON"),
            id="200 not JSON",
        ),
        pytest.param(
            request(fault="string_age"),
            400,
            orjson.dumps({"validation_error": {"error_message": 'traits.age: expected an integer, got "25"'}}),
            None,
            # named by the SDK's mistake, with the collector's own words for it
            ("expected_rejection", "string_age", '400 traits.age: expected an integer, got "25"'),
            id="faulty body, 400",
        ),
        pytest.param(
            request(fault="missing_sid"),
            200,
            b"",
            None,
            (
                "failure",
                "faulty body got 200",
                "a malformed body (missing_sid) was answered 200; the collector should reject it with a 400",
            ),
            id="faulty body accepted",
        ),
        pytest.param(
            request(),
            400,
            orjson.dumps({"validation_error": {"error_message": "sid: required field is missing"}}),
            None,
            ("failure", "400 sid", "400 sid: required field is missing"),
            id="400 names its field",
        ),
        pytest.param(request(), 503, b"busy", None, ("failure", "status 503", "status 503: b'busy'"), id="503"),
        pytest.param(
            request(),
            0,
            None,
            ConnectionRefusedError(111, "Connection refused"),
            (
                "failure",
                "connection (ConnectionRefusedError)",
                "ConnectionRefusedError: [Errno 111] Connection refused",
            ),
            id="refused",
        ),
        pytest.param(
            request(),
            0,
            None,
            OSError("The read operation timed out"),
            ("failure", "timeout (OSError)", "OSError: The read operation timed out"),
            id="a timeout by its text",
        ),
        pytest.param(
            request(), 0, None, None, ("failure", "connection (no response)", "no response: None"), id="no answer"
        ),
    ],
)
def test_judge(req: Request, status: int, content: bytes | None, error: Any, expected: tuple[Any, ...]) -> None:
    assert _judge(req, status, content, error) == expected


def test_an_answer_off_the_contract_names_the_field() -> None:
    outcome, kind, example = _judge(request("externalIds"), 200, orjson.dumps({"user_id": UID}), None)
    assert (outcome, kind) == ("failure", "200 body off contract")
    assert example is not None and example.startswith("externalIds 200 body: ")
