"""The three request bodies and their headers, built as plain dicts and serialised with orjson.

Builders are on the hot path of every Locust user (one event per request, ~13,500 requests/s per
core), so each does the least work that yields a body the contract accepts: no copies of the
device's metadata unless a click id must be added, no validation (tests do that).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

import orjson

from simulator.contract import MMSS_Z, hour_prefix, iso_utc  # re-exported: the body builders' clock

__all__ = [
    "CONTENT_TYPE",
    "MMSS_Z",
    "Device",
    "Person",
    "dumps",
    "event",
    "external_ids",
    "headers",
    "hour_prefix",
    "identify",
    "identify_by",
    "iso_utc",
    "session_start",
]

CONTENT_TYPE = "application/json"
EVENT_SOURCE = "mobile_app"


class Device(TypedDict):
    """One device as the payload builders need it (``population`` materialises these)."""

    platform: Literal["ios", "android"]
    #: The advertising id as the OS reports it: upper case on iOS, lower case on Android,
    #: all zeros when ad tracking is limited.
    ad_id: str
    ga_app_instance_id: str
    #: ``additional_info`` device fields (``limitAdTracking`` ... ``shortVersion``), exactly as sent.
    info: dict[str, Any]
    #: ISO 3166-1 alpha-2 country code and the ISO 4217 currency the app shows there.
    country: str
    currency: str


class Person(TypedDict):
    """The person behind a device: the reference's identify ``traits``, exactly as sent."""

    first_name: str
    last_name: str
    email: str
    #: Absent when the population's fiction ranges had no number left for this person.
    phone: NotRequired[str]
    gender: str
    age: int
    country: str
    state: str
    city: str
    zip: str
    address1: str
    address2: NotRequired[str]
    address3: NotRequired[str]


def external_ids(device: Device, uid: str, ga_session_id: str) -> dict[str, str]:
    """The ``external_ids`` block: the platform's advertising id, GA ids and the CustomerLabs user id."""
    return {
        "idfa" if device["platform"] == "ios" else "aaid": device["ad_id"],
        "google_analytics__app_instance_id": device["ga_app_instance_id"],
        "google_analytics__app_session_id": ga_session_id,
        "customerlabs_user_id": uid,
    }


def session_start(
    app_id: str,
    device: Device,
    uid: str,
    sid: str,
    ga_session_id: str,
    *,
    utm: dict[str, str] | None = None,
    click_ids: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``POST /app/externalIds``: sent at the start of every session."""
    info = device["info"]
    body: dict[str, Any] = {
        "id": app_id,
        "uid": uid,
        "sid": sid,
        "external_ids": external_ids(device, uid, ga_session_id),
        "additional_info": {**info, **click_ids} if click_ids else info,
    }
    if utm:
        body["utm_params"] = utm
    return body


def identify_by(person: Person, *, email: bool = True, phone: bool = True) -> dict[str, str]:
    """The ``identify_by`` block; ``{}`` (anonymous) when neither is chosen. A person with no phone
    chosen to be identified by phone is identified by email instead."""
    number = person.get("phone") if phone else None
    out: dict[str, str] = {}
    if email or (phone and number is None):
        out["identify_by_email"] = person["email"]
    if number is not None:
        out["identify_by_phone"] = number
    return out


def identify(
    app_id: str,
    device: Device,
    uid: str,
    sid: str,
    ga_session_id: str,
    person: Person,
    added_at: str,
    by: dict[str, str],
) -> dict[str, Any]:
    """``POST /app/identify``: links the user id to the person and sends their traits."""
    return {
        "id": app_id,
        "uid": uid,
        "sid": sid,
        "event_source": EVENT_SOURCE,
        "added_at": added_at,
        "identify_by": by,
        "traits": person,
        "external_ids": external_ids(device, uid, ga_session_id),
    }


def event(
    app_id: str,
    uid: str,
    sid: str,
    name: str,
    added_at: str,
    by: dict[str, str],
    properties: dict[str, Any],
    *,
    products: list[dict[str, Any]] | None = None,
    utm: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The events webhook body."""
    body: dict[str, Any] = {
        "id": app_id,
        "uid": uid,
        "sid": sid,
        "event_name": name,
        "event_source": EVENT_SOURCE,
        "added_at": added_at,
        "identify_by": by,
        "properties": properties,
    }
    if products:
        body["products"] = products
    if utm:
        body["utm_params"] = utm
    return body


def headers(device: Device) -> dict[str, str]:
    """Every endpoint's headers: JSON content type and the device's WebView user agent."""
    return {"Content-Type": CONTENT_TYPE, "CL-User-Agent": device["info"]["user_agent"]}


def dumps(body: Any) -> bytes:
    """The bytes sent on the wire (orjson: ~10x faster than ``json.dumps``)."""
    return orjson.dumps(body)
