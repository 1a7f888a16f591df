"""Every builder's output passes the contract, and the OpenAPI export agrees: two independent checks."""

from __future__ import annotations

import random
import re
import time
from datetime import UTC, datetime
from typing import Any

import jsonschema
import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate as validate_openapi

from simulator import contract, identity, payloads
from simulator.payloads import Device, Person
from tests import strategies as S

OPENAPI = contract.openapi()
SCHEMAS = OPENAPI["components"]["schemas"]
REQUEST_SCHEMA = {"externalIds": "ExternalIdsRequest", "identify": "IdentifyRequest", "events": "EventsRequest"}


def schema_errors(endpoint: str, body: dict[str, Any]) -> list[str]:
    schema = {**SCHEMAS[REQUEST_SCHEMA[endpoint]], "components": OPENAPI["components"]}
    validator = jsonschema.Draft202012Validator(schema)
    return [e.message for e in validator.iter_errors(orjson.loads(orjson.dumps(body)))]


def assert_valid(endpoint: str, body: dict[str, Any]) -> None:
    wire = orjson.loads(payloads.dumps(body))  # what the server decodes, not the Python objects
    assert contract.validate(endpoint, wire) == []
    assert schema_errors(endpoint, wire) == []


@st.composite
def sessions(draw: st.DrawFn) -> tuple[str, str, str, str]:
    app = draw(S.app_ids)
    uid = identity.user_id(app, draw(S.uuid4s), draw(S.separators))
    return app, uid, identity.session_id(draw(S.uuid4s)), str(draw(st.integers(1_500_000_000, 2_000_000_000)))


utms = st.none() | st.fixed_dictionaries(
    {"utm_source": st.sampled_from(["google", "facebook"]), "utm_medium": st.just("cpc"), "utm_campaign": S.text}
)
click_ids = st.none() | st.sampled_from(["gclid", "fbclid", "msclkid", "wbraid"]).map(lambda k: {k: "Cj0KCQ-abc"})


@settings(max_examples=150, derandomize=True)
@given(S.devices(), sessions(), utms, click_ids)
def test_session_start_passes_the_contract(
    device: Device, session: tuple[str, str, str, str], utm: dict[str, str] | None, clicks: dict[str, str] | None
) -> None:
    app, uid, sid, ga = session
    body = payloads.session_start(app, device, uid, sid, ga, utm=utm, click_ids=clicks)
    assert_valid("externalIds", body)
    ad_key = "idfa" if device["platform"] == "ios" else "aaid"
    assert body["external_ids"][ad_key] == device["ad_id"] and body["external_ids"]["customerlabs_user_id"] == uid
    if clicks:
        assert clicks.items() <= body["additional_info"].items()
        assert not clicks.keys() & device["info"].keys()  # the device's own metadata is not changed


@settings(max_examples=150, derandomize=True)
@given(S.devices(), sessions(), S.people(), S.timestamps, st.sampled_from([(True, True), (True, False), (False, True)]))
def test_identify_passes_the_contract(
    device: Device, session: tuple[str, str, str, str], person: Person, ts: float, by: tuple[bool, bool]
) -> None:
    app, uid, sid, ga = session
    who = payloads.identify_by(person, email=by[0], phone=by[1])
    body = payloads.identify(app, device, uid, sid, ga, person, payloads.iso_utc(ts), who)
    assert_valid("identify", body)
    assert body["traits"] == person


products = st.lists(
    st.fixed_dictionaries(
        {
            "product_id": st.from_regex(r"\ASKU-[0-9]{3,6}\Z"),
            "product_name": S.text,
            "product_price": S.amounts,
            "product_quantity": st.integers(1, 20),
        }
    ),
    max_size=4,
)


@settings(max_examples=150, derandomize=True)
@given(sessions(), S.people(), S.timestamps, S.text.filter(str.strip), S.amounts, products, utms, st.booleans())
def test_event_passes_the_contract(
    session: tuple[str, str, str, str],
    person: Person,
    ts: float,
    name: str,
    value: float,
    items: list[dict[str, Any]],
    utm: dict[str, str] | None,
    identified: bool,
) -> None:
    app, uid, sid, _ = session
    who = payloads.identify_by(person, email=identified, phone=identified)
    props = {"value": value, "currency": "USD", "transaction_id": "TXN-1"}
    body = payloads.event(app, uid, sid, name, payloads.iso_utc(ts), who, props, products=items, utm=utm)
    assert_valid("events", body)


def test_openapi_document_is_valid_openapi_3_1() -> None:
    validate_openapi(OPENAPI)
    assert OPENAPI["openapi"] == "3.1.0"
    assert set(OPENAPI["paths"]) == {"/app/externalIds", "/app/identify", "/webhook/{source}"}


def test_openapi_rejects_what_validate_rejects_for_formats() -> None:
    """The exported patterns are the contract's own: a bad sid fails both checks."""
    from tests.unit.test_contract import VALID, mutate

    for endpoint, body in VALID.items():
        assert schema_errors(endpoint, body) == []
        bad = mutate(endpoint, "sid", "session-1")
        assert contract.validate(endpoint, bad) and schema_errors(endpoint, bad)


def test_headers_carry_the_device_user_agent() -> None:
    device = Device(
        platform="android",
        ad_id="0",
        ga_app_instance_id="0" * 32,
        country="IN",
        currency="INR",
        info={"user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 6 Build/AP1A.240505.004; wv)"},
    )
    assert payloads.headers(device) == {
        "Content-Type": "application/json",
        "CL-User-Agent": device["info"]["user_agent"],
    }


@settings(max_examples=300, derandomize=True)
@given(S.timestamps)
def test_iso_utc_agrees_with_datetime(ts: float) -> None:
    expected = datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert payloads.iso_utc(ts) == expected


def test_iso_utc_is_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert payloads.iso_utc(1773294315) == "2026-03-12T05:45:15Z"  # the reference's example instant
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_uuid_bulk_generation_is_valid_version_4_and_seeded() -> None:
    raw = identity.random_uuid4_bytes(np.random.default_rng(7), 20_000)
    ids = [identity.format_uuid(r) for r in raw]
    assert all(re.fullmatch(contract.UUID4_RE, u) for u in ids)
    assert len(set(ids)) == len(ids)
    assert raw.tobytes() == identity.random_uuid4_bytes(np.random.default_rng(7), 20_000).tobytes()
    assert raw.tobytes() != identity.random_uuid4_bytes(np.random.default_rng(8), 20_000).tobytes()
    assert identity.format_uuid(raw[4], upper=True) == ids[4].upper()


def test_version_and_variant_bits_are_uniform_elsewhere() -> None:
    """Only the 6 fixed bits are fixed: the other 122 are drawn (no accidental constant nibble)."""
    raw = identity.random_uuid4_bytes(np.random.default_rng(1), 4096)
    bits = np.unpackbits(raw, axis=1).mean(axis=0)
    fixed = {48, 49, 50, 51, 64, 65}
    free = np.array([b for i, b in enumerate(bits) if i not in fixed])
    assert np.all(np.abs(free - 0.5) < 0.05)
    assert [bits[i] for i in sorted(fixed)] == [0, 1, 0, 0, 1, 0]


def test_one_at_a_time_uuids_from_a_device_stream_are_version_4_and_reproducible() -> None:
    def ids(seed: int) -> list[str]:
        rnd = random.Random(seed)
        return [identity.session_id(identity.uuid4_from(rnd)) for _ in range(3000)]

    sids = ids(3)
    assert sids == ids(3) != ids(4)
    assert len(set(sids)) == 3000
    assert all(re.fullmatch(f"CL-{contract.UUID4_RE}", s) for s in sids)
    uid = identity.user_id("app", identity.uuid4_from(random.Random(1)), "_")
    assert re.fullmatch(f"app_{contract.UUID4_RE}", uid)
    # all 16 values of the variant's free bits and of every other hex digit occur
    digits = [set(u[i] for u in sids) for i in range(3, 39) if i not in (11, 16, 21, 26)]
    assert all(len(d) == 16 for j, d in enumerate(digits) if j not in (12, 16))


def test_same_seed_same_bytes() -> None:
    def build(seed: int) -> bytes:
        rnd = random.Random(seed)
        device = Device(
            platform="ios",
            ad_id=identity.uuid4_from(rnd).upper(),
            ga_app_instance_id="ab" * 16,
            country="US",
            currency="USD",
            info={"limitAdTracking": False, "extInfoVersion": "i2", "user_agent": "UA"},
        )
        uid = identity.user_id("app", identity.uuid4_from(rnd))
        sid = identity.session_id(identity.uuid4_from(rnd))
        return b"".join(
            payloads.dumps(b)
            for b in (
                payloads.session_start("app", device, uid, sid, "1773294315"),
                payloads.event("app", uid, sid, "Purchase", payloads.iso_utc(1773294315), {}, {"value": 1}),
            )
        )

    assert build(11) == build(11)
    assert build(11) != build(12)
