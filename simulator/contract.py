"""The CustomerLabs Mobile Tracking API contract, as data.

Every request field of the reference (``../shared/seed/customerlabs-mobile-tracking-api.txt``)
with its type, whether it is required and its format rule, plus the response bodies. One
source of truth: payload tests, the mock collector, the dataset writer and the OpenAPI export
(``loadsim contract --openapi``) all read these tables.

``validate(endpoint, body)`` reports every problem with its JSON path, for any JSON value, and
never raises. Where the reference is ambiguous the decisions of DESIGN.md apply: booleans for
``limitAdTracking`` (the strings "true"/"false" accepted too), ``uid`` = app id + optional ``_``
+ UUIDv4 in either case, ``added_at`` in UTC with ``Z``, ``identify_by`` required everywhere and
non-empty on identify. Unknown keys are allowed (SDKs add fields); known ones must be right.
A required string must not be blank, and an optional null reads as absent everywhere, the rules
across fields included: a null advertising id or identify_by value is not one sent.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import unquote

import orjson

__all__ = [
    "ENDPOINTS",
    "ENDPOINT_NAMES",
    "ENDPOINT_PATHS",
    "ERROR_BODY",
    "MMSS_Z",
    "MOCK_WEBHOOK_PATH",
    "Endpoint",
    "Field",
    "Problem",
    "blank",
    "describe",
    "endpoint_for_path",
    "error_body",
    "hour_prefix",
    "iso_utc",
    "openapi",
    "repeated_keys",
    "validate",
    "validate_response",
]

JsonType = Literal["string", "boolean", "integer", "number", "object", "array"]

#: A string longer than this is a problem whatever the field: no SDK sends a 4 KiB device model.
MAX_STRING = 4096
MAX_PRODUCTS = 500

UUID_RE = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
UUID4_RE = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
APP_ID_RE = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}"


@dataclass(frozen=True, slots=True)
class Format:
    """A string format: a regular expression (exported to OpenAPI) and what to tell a person."""

    name: str
    pattern: str
    expected: str

    def compiled(self) -> re.Pattern[str]:
        return _COMPILED[self.name]


#: The characters ``str.isspace()`` calls whitespace, as an explicit class: a schema's pattern is an
#: ECMA-262 regex, whose \s differs from Python's (U+001C..U+001F and U+0085 are not in it, U+FEFF
#: is), so no published pattern says \s, \d or \w.
WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: A required string's pattern: some character that is not whitespace (``blank``).
NOT_BLANK = f"[^{WHITESPACE}]"

FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("app_id", APP_ID_RE, "an app id (1-64 letters, digits, '_', '.', '-')"),
        # The "_" outside the app id's 64 characters, so that a 64-character app id may have it too.
        Format("user_id", f"{APP_ID_RE}_?{UUID4_RE}", "the app id followed by a UUIDv4"),
        Format("session_id", f"CL-{UUID4_RE}", "'CL-' followed by a UUIDv4"),
        Format("uuid", UUID_RE, "a UUID such as 00000000-0000-0000-0000-000000000000"),
        Format(
            "timestamp",
            r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z",
            "an ISO 8601 UTC timestamp ending in Z, such as 2026-03-12T05:45:15Z",
        ),
        Format("email", f"[^@{WHITESPACE}]+@[^@{WHITESPACE}]+\\.[^@{WHITESPACE}]+", "an email address"),
        Format("phone", r"\+[1-9][0-9]{6,14}", "a phone number in E.164 form, such as +918424032105"),
        Format("currency", r"[A-Z]{3}", "an ISO 4217 currency code such as USD"),
    )
}
_COMPILED = {name: re.compile(f"(?:{f.pattern})\\Z") for name, f in FORMATS.items()}


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a request or response body."""

    name: str
    type: JsonType
    required: bool = False
    description: str = ""
    #: Name of an entry of ``FORMATS`` a string must match.
    format: str | None = None
    #: Allowed values (compared after the type check).
    enum: tuple[Any, ...] | None = None
    #: For ``boolean`` fields: also accept the strings "true" and "false" (SDKs send them).
    bool_strings: bool = False
    minimum: float | None = None
    maximum: float | None = None
    #: Members of an ``object``.
    fields: tuple[Field, ...] = ()
    #: Element of an ``array``.
    items: Field | None = None
    max_items: int | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a body: where (a JSON path such as ``products[0].product_price``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Endpoint:
    """One endpoint of the API: its request body, its 200 body and the rules across fields."""

    name: str
    method: str
    #: Path template; the events webhook is per source (``/webhook/{source}`` on the mock).
    path: str
    summary: str
    body: tuple[Field, ...]
    #: Fields of the 200 body; ``None`` means the reference sends no body.
    response: tuple[Field, ...] | None
    checks: tuple[Callable[[Mapping[str, Any]], list[Problem]], ...] = field(default=())


# --- the field tables, from the reference ---------------------------------------------------


def _s(name: str, description: str = "", *, required: bool = False, fmt: str | None = None) -> Field:
    return Field(name, "string", required, description, format=fmt)


def _n(name: str, description: str = "", *, minimum: float | None = None) -> Field:
    return Field(name, "number", False, description, minimum=minimum)


_ID = _s("id", "CustomerLabs application identifier (app_id)", required=True, fmt="app_id")
_UID = _s("uid", "User identifier: app_id + UUIDv4, persisted for the life of an install", required=True, fmt="user_id")
_SID = _s("sid", "Session identifier: CL- + UUIDv4, new for every app session", required=True, fmt="session_id")
_EVENT_SOURCE = Field("event_source", "string", True, "Always mobile_app", enum=("mobile_app",))
_ADDED_AT = _s("added_at", "Event time, ISO 8601 UTC", required=True, fmt="timestamp")

_EXTERNAL_IDS = Field(
    "external_ids",
    "object",
    True,
    "Third-party identifiers used to stitch identity across platforms",
    fields=(
        _s("idfa", "Advertising id on iOS (IDFA); zeroed when ad tracking is limited", fmt="uuid"),
        _s("aaid", "Advertising id on Android (AAID); zeroed when ad tracking is limited", fmt="uuid"),
        _s("google_analytics__app_instance_id", "Google Analytics app instance id"),
        _s("google_analytics__app_session_id", "Google Analytics session id"),
        _s("customerlabs_user_id", "The CustomerLabs user id (same as uid)", fmt="user_id"),
    ),
)

DEVICE_FIELDS: tuple[Field, ...] = (
    Field("limitAdTracking", "boolean", True, "true = ad tracking limited, false = allowed", bool_strings=True),
    _s("fcmToken", "Firebase Cloud Messaging token"),
    _s("user_agent", "WebView user agent"),
    _s("appPackageName", "Application package name / bundle id"),
    _s("app_version_name", "App version name"),
    _s("carrier", "Mobile carrier name"),
    _s("deviceModelName", "Device model identifier"),
    _s("deviceTimeZone", "Device timezone, e.g. Asia/Kolkata"),
    Field("extInfoVersion", "string", True, "Platform: i2 for iOS, a2 for Android", enum=("i2", "a2")),
    _s("externalStorageSize", "Total external storage in GB"),
    _s("fingerprint", "Device build fingerprint"),
    _s("freeSpaceExternalStorage", "Free external storage in GB"),
    _s("locale", "Device locale, e.g. en-US"),
    _s("longVersion", "App long version string"),
    _s("osVersion", "OS version number"),
    _s("screenDensity", "Screen pixel density"),
    _s("screenHeight", "Screen height in dp"),
    _s("screenWidth", "Screen width in dp"),
    _s("shortVersion", "App short version string"),
)
CLICK_ID_FIELDS: tuple[Field, ...] = (
    _s("fbclid", "Meta click id"),
    _s("gclid", "Google Ads click id"),
    _s("msclkid", "Microsoft Ads click id"),
    _s("wbraid", "Google Ads web-to-app click id"),
)
_UTM = Field(
    "utm_params",
    "object",
    False,
    "UTM parameters of the deep link or referral that opened the app",
    fields=tuple(_s(f"utm_{k}") for k in ("source", "medium", "campaign", "content", "term")),
)
_IDENTIFY_BY = Field(
    "identify_by",
    "object",
    True,
    "Matches the user: identify_by_email and/or identify_by_phone",
    fields=(
        _s("identify_by_email", "Email of the user", fmt="email"),
        _s("identify_by_phone", "Phone of the user, E.164", fmt="phone"),
    ),
)
TRAIT_FIELDS: tuple[Field, ...] = (
    _s("first_name"),
    _s("last_name"),
    _s("email", fmt="email"),
    _s("phone", fmt="phone"),
    _s("gender"),
    Field("age", "integer", False, "Age in years", minimum=0, maximum=150),
    _s("country"),
    _s("state"),
    _s("city"),
    _s("zip"),
    _s("address1"),
    _s("address2"),
    _s("address3"),
)
PROPERTY_FIELDS: tuple[Field, ...] = (
    _n("value", "Order value: products subtotal + shipping + tax - discount"),
    _s("currency", fmt="currency"),
    _s("transaction_id"),
    _n("shipping", minimum=0),
    _n("tax", minimum=0),
    _n("discount", minimum=0),
    _s("coupon"),
    _s("affiliation"),
    _s("search_string"),
    _s("description"),
)
PRODUCT = Field(
    "product",
    "object",
    False,
    fields=(
        _s("product_id", required=False),
        _s("product_name"),
        _n("product_price", minimum=0),
        Field("product_quantity", "integer", False, minimum=1, maximum=100_000),
    ),
)


def _uid_matches_app(body: Mapping[str, Any]) -> list[Problem]:
    """``uid`` must begin with this request's own app id (app_id + UUIDv4, ``_`` allowed between)."""
    app, uid = body.get("id"), body.get("uid")
    if not (isinstance(app, str) and isinstance(uid, str)):
        return []
    if not (_COMPILED["app_id"].match(app) and _COMPILED["user_id"].match(uid)):
        return []  # already reported by the format checks
    prefix = uid[:-36]
    if prefix not in (app, app + "_"):
        return [Problem("uid", f"expected the app id {_show(app)} followed by a UUIDv4, got {_show(uid)}")]
    problems = []
    ext = body.get("external_ids")
    if isinstance(ext, dict):
        cl = ext.get("customerlabs_user_id")
        if isinstance(cl, str) and cl != uid:
            problems.append(
                Problem(
                    "external_ids.customerlabs_user_id",
                    f"expected the same user id as uid {_show(uid)}, got {_show(cl)}",
                )
            )
    return problems


def _present(obj: Mapping[str, Any], key: str) -> bool:
    """A member a rule across fields may count on: an optional null reads as absent (see
    ``_check_members``), so a rule that needs the member must not count a null as sent."""
    return obj.get(key) is not None


def _ad_id_matches_platform(body: Mapping[str, Any]) -> list[Problem]:
    """iOS (i2) sends its IDFA, Android (a2) its AAID (zeroed, never null, when ad tracking is limited)."""
    info, ext = body.get("additional_info"), body.get("external_ids")
    if not (isinstance(info, dict) and isinstance(ext, dict)):
        return []
    version = info.get("extInfoVersion")
    key = {"i2": "idfa", "a2": "aaid"}.get(version) if isinstance(version, str) else None
    if key and not _present(ext, key):
        platform = "iOS" if key == "idfa" else "Android"
        return [
            Problem(
                f"external_ids.{key}",
                f"required on {platform} (additional_info.extInfoVersion is {_show(info['extInfoVersion'])})"
                + (", got null" if key in ext else ""),
            )
        ]
    return []


_IDENTIFY_BY_KEYS = ("identify_by_email", "identify_by_phone")


def _identifies_someone(body: Mapping[str, Any]) -> list[Problem]:
    """identify_by names an email or a phone (a null names nobody)."""
    by = body.get("identify_by")
    if isinstance(by, dict) and not any(_present(by, k) for k in _IDENTIFY_BY_KEYS):
        got = "got null" if any(k in by for k in _IDENTIFY_BY_KEYS) else "got neither"
        return [Problem("identify_by", f"expected identify_by_email and/or identify_by_phone, {got}")]
    return []


ENDPOINTS: dict[str, Endpoint] = {
    "externalIds": Endpoint(
        name="externalIds",
        method="POST",
        path="/app/externalIds",
        summary="Session start: registers the device's advertising ids, metadata and UTM parameters",
        body=(
            _ID,
            _UID,
            _SID,
            _EXTERNAL_IDS,
            Field(
                "additional_info",
                "object",
                True,
                "Device metadata, ad click ids and app details",
                fields=DEVICE_FIELDS + CLICK_ID_FIELDS,
            ),
            _UTM,
        ),
        response=(
            _s("user_id", required=True),
            Field("external_ids", "object", True),
            Field("additional_info", "object", True),
        ),
        checks=(_uid_matches_app, _ad_id_matches_platform),
    ),
    "identify": Endpoint(
        name="identify",
        method="POST",
        path="/app/identify",
        summary="Links the device's user id to a known person (email/phone) and sets traits",
        body=(
            _ID,
            _UID,
            _SID,
            _EVENT_SOURCE,
            _ADDED_AT,
            _IDENTIFY_BY,
            Field("traits", "object", True, "User profile attributes", fields=TRAIT_FIELDS),
            _EXTERNAL_IDS,
        ),
        response=(
            _s("user_id", required=True),
            Field("external_ids", "object", True),
            Field("additional_info", "object", True),
            Field("user_traits", "object", True, "The merged profile's traits"),
        ),
        checks=(_uid_matches_app, _identifies_someone),
    ),
    "events": Endpoint(
        name="events",
        method="POST",
        path="/webhook/{source}",
        summary="Events webhook (the URL is per CustomerLabs source)",
        body=(
            _ID,
            _UID,
            _SID,
            Field("event_name", "string", True, "View Item, Add to Cart, Purchase, Search, ..."),
            _EVENT_SOURCE,
            _ADDED_AT,
            Field(
                "identify_by",
                "object",
                True,
                "Attributes the event to an identified profile; {} for an anonymous user",
                fields=_IDENTIFY_BY.fields,
            ),
            Field("properties", "object", True, "Event properties", fields=PROPERTY_FIELDS),
            Field("products", "array", False, "Products of an e-commerce event", items=PRODUCT, max_items=MAX_PRODUCTS),
            _UTM,
        ),
        response=None,
        checks=(_uid_matches_app,),
    ),
}

#: The endpoints' names, in the order reports list them.
ENDPOINT_NAMES: tuple[str, ...] = tuple(ENDPOINTS)
#: Where the events of a run against the mock go (the mock counts events per webhook source).
MOCK_WEBHOOK_PATH = ENDPOINTS["events"].path.format(source="loadsim")
#: Endpoint -> URL path on any collector: externalIds and identify are fixed paths; events goes to
#: the source's webhook, here the mock's (a run against CustomerLabs puts the source's URL in its place).
ENDPOINT_PATHS: dict[str, str] = {name: ep.path.format(source="loadsim") for name, ep in ENDPOINTS.items()}

#: The 400 body, for every endpoint.
ERROR_BODY: tuple[Field, ...] = (
    Field(
        "validation_error",
        "object",
        True,
        fields=(_s("error_message", "Names the field and what is wrong", required=True),),
    ),
)


def endpoint_for_path(path: str) -> str | None:
    """The endpoint name serving a URL path, or ``None``: ``/webhook/<anything>`` is the events webhook."""
    for name in ("externalIds", "identify"):
        if path == ENDPOINTS[name].path:
            return name
    prefix = ENDPOINTS["events"].path.removesuffix("{source}")
    if not path.startswith(prefix) or len(path) == len(prefix):
        return None
    # A "." or ".." segment (percent-encoded too) is one a client or proxy resolves (RFC 3986 5.2.4),
    # and an empty one some collapse: a path with one names no source of its own.
    if any(unquote(segment) in ("", ".", "..") for segment in path[len(prefix) :].split("/")):
        return None
    return "events"


def error_body(problems: list[Problem] | str) -> dict[str, Any]:
    """The reference's 400 body; the message names every problem, ``; ``-separated."""
    message = problems if isinstance(problems, str) else "; ".join(map(str, problems))
    return {"validation_error": {"error_message": message}}


# --- added_at: ISO 8601 UTC with Z, whole seconds -----------------------------------------------

#: "MM:SSZ" for every second of an hour: the tail of an ``added_at``.
MMSS_Z = [f"{m:02d}:{s:02d}Z" for m in range(60) for s in range(60)]
_HOUR_PREFIX: dict[int, str] = {}


def hour_prefix(hour: int) -> str:
    """``"YYYY-MM-DDTHH:"`` of the UTC hour ``hour`` (hours since the epoch), cached: an ``added_at``
    is this plus ``MMSS_Z[second of the hour]``. Hot loops keep the prefix while the hour lasts."""
    prefix = _HOUR_PREFIX.get(hour)
    if prefix is None:
        if len(_HOUR_PREFIX) > 200_000:  # a dataset spanning decades: stay bounded
            _HOUR_PREFIX.clear()
        t = time.gmtime(hour * 3600)
        prefix = _HOUR_PREFIX[hour] = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:"
    return prefix


def iso_utc(ts: float) -> str:
    """``added_at``: ISO 8601 UTC with ``Z``, whole seconds.

    Every request carries one, so the hour's prefix is cached and minutes and seconds come from
    a table: ~0.8 us against ~5 us for ``time.gmtime`` and a format string.
    """
    hour, rem = divmod(int(ts), 3600)
    return hour_prefix(hour) + MMSS_Z[rem]


# --- validation ------------------------------------------------------------------------------

_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}
_EXPECTED = {
    "string": "a string",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "object": "an object",
    "array": "an array",
}


def _show(value: Any, limit: int = 40) -> str:
    """A JSON value as a person would see it, cut short."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    try:
        text = orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):
        text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-1]} ({len(text)} chars)"


def _got(value: Any) -> str:
    if isinstance(value, dict | list) or value is None:
        return _TYPE_NAMES.get(type(value), type(value).__name__)
    return _show(value)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _check_valid_timestamp(value: str) -> bool:
    try:
        datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        return False
    return True


def blank(value: str) -> bool:
    """Whether a string is empty or whitespace only: no value for a required field (the reference
    requires event_name, "Name of the event"; "" names nothing). ``simulator.mock.validation``
    compiles the same test."""
    return not value or value.isspace()


def _check(spec: Field, value: Any, path: str, out: list[Problem]) -> None:
    t = spec.type
    if t == "string":
        if type(value) is not str:
            out.append(Problem(path, f"expected a string, got {_got(value)}"))
            return
        if len(value) > MAX_STRING:
            out.append(Problem(path, f"string too long ({len(value)} characters, at most {MAX_STRING})"))
            return
        if spec.format is not None:
            fmt = FORMATS[spec.format]
            if not _COMPILED[spec.format].match(value) or (
                spec.format == "timestamp" and not _check_valid_timestamp(value)
            ):
                out.append(Problem(path, f"expected {fmt.expected}, got {_show(value)}"))
                return
        # After the format, before the enum: either says better what a blank should have been.
        if spec.required and spec.enum is None and blank(value):
            out.append(Problem(path, f"expected a non-blank string, got {_show(value)}"))
            return
    elif t == "boolean":
        if type(value) is not bool and not (spec.bool_strings and value in ("true", "false")):
            out.append(Problem(path, f"expected a boolean, got {_got(value)}"))
            return
    elif t == "integer":
        if type(value) is not int and not (type(value) is float and value.is_integer()):
            out.append(Problem(path, f"expected an integer, got {_got(value)}"))
            return
    elif t == "number":
        if type(value) not in (int, float) or not math.isfinite(value):
            out.append(Problem(path, f"expected a number, got {_got(value)}"))
            return
    elif t == "object":
        if type(value) is not dict:
            out.append(Problem(path, f"expected an object, got {_got(value)}"))
            return
        _check_members(spec.fields, value, path, out)
        return
    elif t == "array":
        if type(value) is not list:
            out.append(Problem(path, f"expected an array, got {_got(value)}"))
            return
        if spec.max_items is not None and len(value) > spec.max_items:
            out.append(Problem(path, f"too many items ({len(value)}, at most {spec.max_items})"))
            return
        if spec.items is not None:
            for i, item in enumerate(value):
                _check(spec.items, item, f"{path}[{i}]", out)
        return
    if spec.enum is not None and value not in spec.enum:
        allowed = " or ".join(_show(v) for v in spec.enum)
        out.append(Problem(path, f"expected {allowed}, got {_show(value)}"))
    elif spec.minimum is not None and value < spec.minimum:
        out.append(Problem(path, f"expected at least {spec.minimum:g}, got {_show(value)}"))
    elif spec.maximum is not None and value > spec.maximum:
        out.append(Problem(path, f"expected at most {spec.maximum:g}, got {_show(value)}"))


def _check_members(fields: tuple[Field, ...], obj: dict[str, Any], path: str, out: list[Problem]) -> None:
    for spec in fields:
        value = obj.get(spec.name, _MISSING)
        if value is _MISSING:
            if spec.required:
                out.append(Problem(_join(path, spec.name), "required field is missing"))
        elif value is None and not spec.required:
            # An optional field sent as null is read as absent, as JSON APIs commonly do.
            continue
        else:
            _check(spec, value, _join(path, spec.name), out)


_MISSING = object()


class _Members(list[tuple[str, Any]]):
    """A JSON object as the members it was sent with, in order, a repeated key kept."""


#: The deepest nesting orjson writes (it reads 1,024 levels): a body deeper is refused (``repeated_keys``).
MAX_DEPTH = 254
#: The repeated keys a 400 names; past them, one line says there are more (and the search stops).
REPEATS_NAMED = 10


def repeated_keys(body: bytes, value: Any) -> list[Problem]:
    """A problem for each key given more than once in one object of ``body``, the valid JSON that
    orjson read as ``value`` (the first REPEATS_NAMED of them), or one naming a body deeper than MAX_DEPTH.

    RFC 8259 leaves such an object's meaning to its reader: orjson, and so ``validate``, keeps the
    last value, while a reader of the stored body may keep the first.
    """
    try:
        if orjson.dumps(value) == body:  # what orjson writes has no repeats: most bodies end here
            return []
    except orjson.JSONEncodeError:
        # orjson reads 1,024 levels but writes MAX_DEPTH: accepted, such a body could not be answered
        # (an echo of its additional_info, the traits of its profile).
        return [Problem("body", f"nested too deeply (more than {MAX_DEPTH} levels of arrays and objects)")]
    try:
        tree = json.loads(body, object_pairs_hook=_Members)
    except RecursionError:  # orjson reads 1,024 levels, this parser about 1,000
        return [Problem("body", "nested too deeply to read")]
    out: dict[str, Problem] = {}  # by path: a key given three times is named once
    todo: list[tuple[str, Any]] = [("", tree)]  # a stack, not recursion: as deep as the body
    while todo:
        path, node = todo.pop()
        if isinstance(node, _Members):
            seen: set[str] = set()
            for key, _ in node:
                where = _join(path, key)
                if key in seen and where not in out:
                    if len(out) == REPEATS_NAMED:
                        return [*out.values(), Problem("body", "and more keys given more than once")]
                    out[where] = Problem(where, "given more than once in one object; send each key once")
                seen.add(key)
            todo.extend((_join(path, key), member) for key, member in reversed(node))
        elif isinstance(node, list):
            todo.extend((f"{path}[{i}]", item) for i, item in reversed(list(enumerate(node))))
    return list(out.values())


def validate(endpoint: str, body: Any) -> list[Problem]:
    """Every problem of a request body for ``endpoint`` ("externalIds", "identify" or "events").

    ``body`` is any decoded JSON value; an empty list means valid. Never raises for JSON input.
    """
    spec = ENDPOINTS.get(endpoint)
    if spec is None:
        return [Problem("endpoint", f"unknown endpoint {endpoint!r}; expected one of {', '.join(ENDPOINTS)}")]
    if type(body) is not dict:
        return [Problem("body", f"expected a JSON object, got {_got(body)}")]
    out: list[Problem] = []
    _check_members(spec.body, body, "", out)
    for rule in spec.checks:
        out.extend(rule(body))
    return out


def validate_response(endpoint: str, status: int, body: Any) -> list[Problem]:
    """Problems of a response: a 200 of the reference's shape, or the reference's 400 body."""
    spec = ENDPOINTS.get(endpoint)
    if spec is None:
        return [Problem("endpoint", f"unknown endpoint {endpoint!r}")]
    if status == 400:
        fields: tuple[Field, ...] | None = ERROR_BODY
    elif status == 200:
        fields = spec.response
    else:
        return [Problem("status", f"expected 200 or 400, got {status}")]
    if fields is None:
        return [] if body in (None, b"", "") else [Problem("body", "expected no body")]
    if type(body) is not dict:
        return [Problem("body", f"expected a JSON object, got {_got(body)}")]
    out: list[Problem] = []
    _check_members(fields, body, "", out)
    return out


def _describe_fields(fields: tuple[Field, ...], indent: str, lines: list[str]) -> None:
    for f in fields:
        kind: str = f.type
        if f.format:
            kind += f", {FORMATS[f.format].expected}"
        elif f.enum is not None:
            kind += ", one of " + "/".join(map(str, f.enum))
        if f.bool_strings:
            kind += ' (or "true"/"false")'
        lines.append(f"{indent}{f.name:<{max(34 - len(indent), 8)}} {'required' if f.required else 'optional'}  {kind}")
        sub = f.fields or (f.items.fields if f.items is not None else ())
        if sub:
            _describe_fields(sub, indent + "  ", lines)


def describe() -> str:
    """The contract as a readable text table (``loadsim contract``)."""
    lines: list[str] = []
    for ep in ENDPOINTS.values():
        lines.append(f"{ep.method} {ep.path}  ({ep.name}): {ep.summary}")
        lines.append("  headers: Content-Type: application/json; CL-User-Agent: <the device's user agent>")
        _describe_fields(ep.body, "  ", lines)
        rules = [(rule.__doc__ or "").strip().replace("``", "") for rule in ep.checks]
        lines.extend(f"  rule: {r}" for r in rules if r)
        if ep.response is None:
            lines.append("  200: no body")
        else:
            lines.append("  200: {" + ", ".join(f.name for f in ep.response) + "}")
        lines.append('  400: {"validation_error": {"error_message": "..."}}')
        lines.append("")
    return "\n".join(lines)


# --- OpenAPI 3.1 export ------------------------------------------------------------------------


def _schema(spec: Field) -> dict[str, Any]:
    s: dict[str, Any]
    if spec.type == "boolean" and spec.bool_strings:
        s = {"oneOf": [{"type": "boolean"}, {"type": "string", "enum": ["true", "false"]}]}
    elif spec.type == "number":
        s = {"type": "number"}
    else:
        s = {"type": spec.type}
    if spec.description:
        s["description"] = spec.description
    if spec.type == "string":
        s["maxLength"] = MAX_STRING
    if spec.format:
        s["pattern"] = f"^(?:{FORMATS[spec.format].pattern})$"
    elif spec.type == "string" and spec.required and spec.enum is None:
        s["pattern"] = NOT_BLANK  # formats and enums already say more
    if spec.enum is not None:
        s["enum"] = list(spec.enum)
    if spec.minimum is not None:
        s["minimum"] = spec.minimum
    if spec.maximum is not None:
        s["maximum"] = spec.maximum
    if spec.type == "object":
        s.update(_object_schema(spec.fields))
    if spec.type == "array":
        if spec.items is not None:
            s["items"] = _schema(spec.items)
        if spec.max_items is not None:
            s["maxItems"] = spec.max_items
    return s


def _object_schema(fields: tuple[Field, ...]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for f in fields:
        sub = _schema(f)
        # An optional null reads as absent (see _check_members).
        props[f.name] = sub if f.required else {"anyOf": [sub, {"type": "null"}]}
    out: dict[str, Any] = {"type": "object", "properties": props}
    required = [f.name for f in fields if f.required]
    if required:
        out["required"] = required
    return out


def openapi(*, server: str = "https://io.v2.customerlabs.co") -> dict[str, Any]:
    """The contract as an OpenAPI 3.1 document, for schemathesis, Prism, Postman and friends.

    Rules across fields (``uid`` begins with ``id``; the platform's advertising id is present;
    identify names an email or a phone) are in each operation's description: JSON Schema cannot
    say them.
    """
    error_ref = {"$ref": "#/components/schemas/ValidationError"}
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {"ValidationError": _object_schema(ERROR_BODY)}
    for ep in ENDPOINTS.values():
        req_name = f"{ep.name[0].upper()}{ep.name[1:]}Request"
        schemas[req_name] = _object_schema(ep.body)
        ok: dict[str, Any] = {"description": "Success" + (" (no body)" if ep.response is None else "")}
        if ep.response is not None:
            resp_name = f"{ep.name[0].upper()}{ep.name[1:]}Response"
            schemas[resp_name] = _object_schema(ep.response)
            ok["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{resp_name}"}}}
        rules = "; ".join((rule.__doc__ or rule.__name__).strip().replace("``", "") for rule in ep.checks)
        parameters: list[dict[str, Any]] = [
            {
                "name": "CL-User-Agent",
                "in": "header",
                "required": True,
                "description": "The device's WebView user agent",
                "schema": {"type": "string"},
            },
        ]
        if "{source}" in ep.path:
            parameters.append(
                {
                    "name": "source",
                    "in": "path",
                    "required": True,
                    "description": "The source's webhook id",
                    "schema": {"type": "string"},
                }
            )
        paths[ep.path] = {
            ep.method.lower(): {
                "operationId": ep.name,
                "summary": ep.summary,
                "description": f"Rules across fields: {rules}." if rules else ep.summary,
                "parameters": parameters,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{req_name}"}}},
                },
                "responses": {
                    "200": ok,
                    "400": {"description": "Validation error", "content": {"application/json": {"schema": error_ref}}},
                    "500": {"description": "Server error"},
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CustomerLabs Mobile Tracking API (as loadsim understands it)",
            "version": "1",
            "description": "Generated from simulator/contract.py. The events webhook URL is per source.",
        },
        "servers": [{"url": server}],
        "paths": paths,
        "components": {"schemas": schemas},
    }
