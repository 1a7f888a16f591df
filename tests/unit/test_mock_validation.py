"""The mock's compiled validity predicate never accepts what ``contract.validate`` rejects."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import contract, payloads
from simulator.mock.validation import RULE_INPUTS, compile_fast_check, fast_checks
from tests import strategies as ss

CHECKS = fast_checks()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(
        [
            "true",
            "false",
            "i2",
            "a2",
            "mobile_app",
            "USD",
            "2026-03-12T05:45:15Z",
            "2026-02-30T05:45:15Z",
            "a@b.co",
            "",
            " \t\n",
            "+918424032105",
            "x" * 5000,
        ]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


@st.composite
def valid_bodies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    device, person = draw(ss.devices()), draw(ss.people())
    app = draw(ss.app_ids)
    uid = app + draw(ss.separators) + draw(ss.uuid4s)
    sid = "CL-" + draw(ss.uuid4s)
    at = payloads.iso_utc(draw(ss.timestamps))
    by = payloads.identify_by(person, email=draw(st.booleans()), phone=True)
    kind = draw(st.sampled_from(["externalIds", "identify", "events"]))
    if kind == "externalIds":
        return kind, payloads.session_start(app, device, uid, sid, "123")
    if kind == "identify":
        return kind, payloads.identify(app, device, uid, sid, "123", person, at, by)
    return kind, payloads.event(
        app,
        uid,
        sid,
        draw(ss.text.filter(str.strip)),  # a required string is never blank
        at,
        by,
        {"value": draw(ss.amounts), "currency": device["currency"]},
        products=[{"product_id": "p", "product_price": draw(ss.amounts), "product_quantity": draw(st.integers(1, 5))}],
    )


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@settings(max_examples=100)
@given(valid_bodies())
def test_valid_bodies_take_the_fast_path(case: tuple[str, dict[str, Any]]) -> None:
    endpoint, body = case
    assert contract.validate(endpoint, body) == []
    assert CHECKS[endpoint](body)


@settings(max_examples=400)
@given(valid_bodies(), st.data())
def test_fast_path_accepts_only_what_validate_accepts(case: tuple[str, dict[str, Any]], data: st.DataObject) -> None:
    endpoint, body = case
    body = copy.deepcopy(body)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(body)
        if not paths:
            break
        *parents, last = data.draw(st.sampled_from(paths))
        node: Any = body
        for key in parents:
            node = node[key]
        if data.draw(st.booleans()) and isinstance(node, dict):
            del node[last]
        else:
            node[last] = data.draw(json_values)
    endpoint = data.draw(st.sampled_from([endpoint, "externalIds", "identify", "events"]))
    if CHECKS[endpoint](body):
        assert contract.validate(endpoint, body) == []


@given(valid_bodies(), st.sampled_from(["", " ", "\t\r\n", "\u3000"]))
def test_the_fast_path_refuses_a_blank_required_string(case: tuple[str, dict[str, Any]], blank: str) -> None:
    endpoint, body = case
    for key in ("id", "uid", "sid", "event_name"):
        if key in body:
            assert not CHECKS[endpoint]({**body, key: blank}), key


@given(json_values)
def test_any_json_value_is_refused_or_truly_valid(value: Any) -> None:
    for endpoint, check in CHECKS.items():
        if check(value):
            assert contract.validate(endpoint, value) == []


def test_every_endpoint_compiles() -> None:
    for name in contract.ENDPOINTS:
        compile_fast_check(name)  # raises if the contract outgrew the generator


def _project(body: dict[str, Any], paths: tuple[tuple[str, ...], ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in paths:
        src: Any = body
        dst = out
        for key in path[:-1]:
            src = src.get(key) if isinstance(src, dict) else None
            if not isinstance(src, dict):
                break
            dst = dst.setdefault(key, {})
        else:
            if isinstance(src, dict) and path[-1] in src:
                dst[path[-1]] = src[path[-1]]
    return out


RULES = {rule.__name__: rule for ep in contract.ENDPOINTS.values() for rule in ep.checks}


def test_remembered_rules_exist_in_the_contract() -> None:
    assert set(RULE_INPUTS) <= set(RULES), "a rule was renamed: update RULE_INPUTS"


@settings(max_examples=300)
@given(valid_bodies(), st.data())
def test_a_remembered_rule_reads_only_its_declared_inputs(
    case: tuple[str, dict[str, Any]],
    data: st.DataObject,
) -> None:
    _, body = case
    body = copy.deepcopy(body)
    # Perturb the inputs the rules care about, with values that pass the field checks.
    if data.draw(st.booleans()):
        body["id"] = data.draw(st.sampled_from([body["id"], "other-app", body["id"] + "x"]))
    if data.draw(st.booleans()) and isinstance(body.get("external_ids"), dict):
        body["external_ids"]["customerlabs_user_id"] = data.draw(
            st.sampled_from([body["uid"], "x" + body["uid"], body["uid"].upper()])
        )
    for name, paths in RULE_INPUTS.items():
        rule = RULES[name]
        assert rule(body) == rule(_project(body, paths)), name


@given(valid_bodies(), json_values)
def test_remembering_survives_odd_inputs(case: tuple[str, dict[str, Any]], odd: Any) -> None:
    # external_ids is not a field of events, so nothing checked it before the uid rule reads it.
    endpoint, body = case
    for ext in (odd, {"customerlabs_user_id": odd}):
        candidate = {**body, "external_ids": ext}
        if CHECKS[endpoint](candidate):
            assert contract.validate(endpoint, candidate) == []
