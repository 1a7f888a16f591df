"""The admin API under ``/_admin/``: counters, profiles, stored events, faults, a refusal, reset,
the contract.

Never on the tracking paths, never faulted. Every answer is JSON. ``POST /_admin/refuse`` takes
the admin API down with the rest when it shares the port: one call carries the duration, and the
mock listens again by itself. With ``--admin-port`` it has a port of its own, which stays up.

Safe against web pages and peers (``guard``): a request with a foreign ``Origin`` is refused, and
so is a ``Host`` that is not this machine's (DNS rebinding) unless a token is set; a state-changing
call must be ``Content-Type: application/json`` (a browser's "simple" request cannot be); with
``--admin-token`` every call but ``/health`` needs ``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import sqlite3
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

import orjson

from simulator import contract
from simulator.duration import parse_duration
from simulator.faultspec import MAX_REFUSE_S
from simulator.mock.faults import ERROR_STATUSES, FaultConfig, FaultError, FaultInjector
from simulator.mock.state import CollectorState
from simulator.mock.store import Store


class App(Protocol):
    """What the admin API uses of the server (``simulator.mock.server.App``), so that the server
    imports this module and not the other way round."""

    state: CollectorState
    store: Store
    injector: FaultInjector
    url: str | None
    admin_token: str | None
    bind_host: str

    def stats(self) -> dict[str, Any]: ...
    def reset(self) -> None: ...
    def set_faults(self, config: FaultConfig) -> None: ...
    def refuse(self, seconds: float) -> float: ...
    def outage(self, status: int, seconds: float) -> None: ...


__all__ = [
    "ADMIN_TOKEN_ENV",
    "ADMIN_TOKEN_FILE_ENV",
    "admin_headers",
    "admin_token_from_env",
    "guard",
    "handle",
    "is_loopback",
    "openapi",
]

#: The environment variable ``loadsim mock`` reads the admin token from (and the harness sends it from).
ADMIN_TOKEN_ENV = "LOADSIM_ADMIN_TOKEN"
#: Or a file holding it (a Docker or Kubernetes secret mounted as a file).
ADMIN_TOKEN_FILE_ENV = "LOADSIM_ADMIN_TOKEN_FILE"

Answer = tuple[int, bytes, bytes]
MAX_EVENTS_LIMIT = 10_000
#: The schema of a refusal's or an outage's ``for``.
_SECONDS = {
    "description": f"Seconds (a number, or a duration such as '20s'), at most {MAX_REFUSE_S:g}",
    "oneOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": MAX_REFUSE_S}, {"type": "string"}],
}


def _json(status: int, value: Any) -> Answer:
    return status, orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS), b""


def _problem(status: int, message: str) -> Answer:
    return _json(status, contract.error_body(message))


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or a Host header's name) can only be reached from this machine."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def admin_token_from_env(file: str | None = None, *, refuse_empty: bool = False) -> str | None:
    """The token in ``file``, else in ``$LOADSIM_ADMIN_TOKEN``, else in the file ``$LOADSIM_ADMIN_TOKEN_FILE``.

    ``refuse_empty`` (the mock): a token file with nothing but whitespace raises ``ValueError``
    rather than read as "no token", which would turn the admin API's authentication off.
    """
    import os

    path = file or (None if os.environ.get(ADMIN_TOKEN_ENV) else os.environ.get(ADMIN_TOKEN_FILE_ENV))
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as exc:
            raise ValueError(f"cannot read the admin token file {path}: {exc.strerror or exc}") from None
        if not token and refuse_empty:
            named = f"--admin-token-file {path}" if file else f"${ADMIN_TOKEN_FILE_ENV}={path}"
            raise ValueError(
                f"{named}: the token file is empty, which would leave the admin API without authentication; "
                "write the token into it, or drop the token file to run without one"
            )
        return token or None
    return os.environ.get(ADMIN_TOKEN_ENV) or None


def admin_headers(token: str | None = None) -> dict[str, str]:
    """Headers an admin client sends: the token (given, or from the environment) if there is one."""
    token = token if token is not None else admin_token_from_env()
    return {"Authorization": f"Bearer {token}"} if token else {}


def guard(
    app: App,
    method: str,
    route: str,
    content_type: bytes | None,
    host: bytes | None,
    origin: bytes | None,
    auth: bytes | None,
) -> Answer | None:
    """The refusal of an admin request that is not safe to serve, or ``None`` to serve it."""
    host_s = (host or b"").decode("latin-1").strip()
    own = (f"http://{host_s}".lower(), f"https://{host_s}".lower())
    # The mock serves no pages: any Origin but its own is a web page driving it (CSRF).
    if origin is not None and origin.decode("latin-1").strip().lower() not in own:
        return _problem(403, "cross-origin admin requests are refused: the admin API is for scripts, not web pages")
    token = app.admin_token
    if token is None:
        # No token: only names of this machine (and IP literals); a DNS name rebound to 127.0.0.1 is not.
        name = host_s.rsplit(":", 1)[0] if host_s.count(":") == 1 or host_s.startswith("[") else host_s
        name = name.strip("[]")
        if name and not (is_loopback(name) or _is_ip(name) or name == app.bind_host):
            return _problem(403, f"Host {host_s[:100]!r} is not this mock's; use its address, or set --admin-token")
    elif route != "/health":
        given = (auth or b"").decode("latin-1").strip()
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            status, payload, _ = _problem(
                401,
                f"the admin API needs 'Authorization: Bearer TOKEN' (the mock's --admin-token or {ADMIN_TOKEN_ENV})",
            )
            return status, payload, b"WWW-Authenticate: Bearer\r\n"
    return None


def _needs_json(method: str, route: str, content_type: bytes | None) -> Answer | None:
    """A state-changing call must say it is JSON: a browser's cross-site "simple" request cannot."""
    if method in ("GET", "HEAD") or (content_type is not None and _is_json(content_type)):
        return None
    shown = "none" if content_type is None else repr(content_type.decode("latin-1")[:100])
    return _problem(415, f"{method} /_admin{route} needs Content-Type: application/json, got {shown}")


def _is_json(content_type: bytes) -> bool:
    return content_type.split(b";", 1)[0].strip().lower() == b"application/json"


def _admin_paths() -> dict[str, Any]:
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}}
    not_found = {
        "404": {
            "description": "No such user id",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationError"}}},
        }
    }
    bad = {
        "400": {
            "description": "Bad settings",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationError"}}},
        }
    }
    return {
        "/_admin/health": {
            "get": {
                "operationId": "adminHealth",
                "summary": "Readiness: 503 with the reason while the store cannot write or keep up",
                "responses": {
                    **ok,
                    "503": {
                        "description": "The store cannot write or keep up",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                },
            }
        },
        "/_admin/stats": {
            "get": {
                "operationId": "adminStats",
                "summary": "Counters, warnings, the digest, and what the store durably committed (stored)",
                "responses": ok,
            }
        },
        "/_admin/profiles/{user_id}": {
            "get": {
                "operationId": "adminProfile",
                "summary": "The stitched profile of a user id",
                "parameters": [{"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {**ok, **not_found},
            }
        },
        "/_admin/events": {
            "get": {
                "operationId": "adminEvents",
                "summary": "Stored events, newest first",
                "parameters": [
                    {"name": "user_id", "in": "query", "required": False, "schema": {"type": "string"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_EVENTS_LIMIT},
                    },
                ],
                "responses": {**ok, **bad, **not_found},
            }
        },
        "/_admin/reset": {"post": {"operationId": "adminReset", "summary": "Forget everything", "responses": ok}},
        "/_admin/faults": {
            "get": {"operationId": "adminGetFaults", "summary": "The fault configuration", "responses": ok},
            "put": {
                "operationId": "adminPutFaults",
                "summary": "Replace the fault configuration",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {**ok, **bad},
            },
        },
        "/_admin/refuse": {
            "post": {
                "operationId": "adminRefuse",
                "summary": "Refuse connections for a while (the collector is down), then listen again",
                "description": "The listening socket closes (connects get ECONNREFUSED) and idle keep-alive "
                "connections close; a request already read is answered, then its connection "
                "closes. After `for` seconds the mock listens again on the same port.",
                "requestBody": {"required": True, "content": _json_object({"for": _SECONDS}, closed=True)},
                "responses": {
                    "200": {
                        "description": "Refusing from the next moment",
                        "content": _json_object({"refusing_for": {"type": "number", "minimum": 0}}),
                    },
                    **bad,
                },
            }
        },
        "/_admin/outage": {
            "post": {
                "operationId": "adminOutage",
                "summary": "Answer one error status to every tracking request for a while, then the faults again",
                "description": "An overlay on the fault configuration, which it leaves as it is (a freeze's clock "
                "included); it ends by itself after `for` seconds. The admin API is not affected.",
                "requestBody": {
                    "required": True,
                    "content": _json_object(
                        {"for": _SECONDS, "status": {"type": "integer", "enum": list(ERROR_STATUSES)}}, closed=True
                    ),
                },
                "responses": {
                    "200": {
                        "description": "The outage, from the next request",
                        "content": _json_object(
                            {"outage_for": {"type": "number", "minimum": 0}, "status": {"type": "integer"}}
                        ),
                    },
                    **bad,
                },
            }
        },
        "/_admin/openapi.json": {"get": {"operationId": "adminOpenapi", "summary": "This document", "responses": ok}},
    }


def _json_object(properties: dict[str, Any], *, closed: bool = False) -> dict[str, Any]:
    """A JSON body of an object with every one of ``properties`` (``closed``: and nothing else)."""
    schema: dict[str, Any] = {"type": "object", "required": list(properties), "properties": properties}
    if closed:
        schema["additionalProperties"] = False
    return {"application/json": {"schema": schema}}


def _guarded(paths: dict[str, Any]) -> dict[str, Any]:
    """Every admin operation may be refused by ``guard``: document those answers."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationError"}}}
    for item in paths.values():
        for op in item.values():
            op["responses"].setdefault("401", {"description": "--admin-token set and not sent", "content": error})
            op["responses"].setdefault("403", {"description": "A foreign Origin or Host", "content": error})
            op["responses"].setdefault("415", {"description": "Not Content-Type: application/json", "content": error})
            op["responses"].setdefault("503", {"description": "The store cannot answer now", "content": error})
    return paths


@functools.cache
def _openapi_bytes(server: str) -> bytes:
    return orjson.dumps(openapi(server=server))


def openapi(*, server: str = "http://127.0.0.1:8080") -> dict[str, Any]:
    """The contract's OpenAPI document, served from the mock, with the admin paths added."""
    doc = contract.openapi(server=server)
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationError"}}}
    for item in doc["paths"].values():
        for op in item.values():
            # What the mock answers beyond the reference's 200/400/500, and the header rule it applies.
            op["responses"].update(
                {
                    "408": {"description": "Headers or body too slow to arrive", "content": error},
                    "413": {"description": "Body larger than 1 MiB", "content": error},
                    "414": {"description": "Request line longer than 8 KiB", "content": error},
                    "415": {"description": "Content-Type is not JSON", "content": error},
                    "431": {"description": "Header block larger than 64 KiB", "content": error},
                    "429": {"description": "Injected fault (Retry-After set)", "content": error},
                    "502": {"description": "Injected fault", "content": error},
                    "503": {
                        "description": "Injected fault, or the store cannot write or keep up (Retry-After set)",
                        "content": error,
                    },
                    "504": {"description": "Injected fault", "content": error},
                }
            )
            for param in op.get("parameters", []):
                if param["name"] == "CL-User-Agent":
                    param["schema"] = {**param["schema"], "minLength": 1, "pattern": r"\S"}
    doc["paths"].update(_guarded(_admin_paths()))
    return doc


#: The query parameters of ``GET /_admin/events`` (the OpenAPI document lists the same).
EVENTS_PARAMS = ("limit", "user_id")


def _params(method: str, path: str, query: bytes, known: tuple[str, ...]) -> dict[str, str] | Answer:
    """The query's parameters, each given once, or the 400 naming one the route cannot honour: a
    filter ignored, or one of two taken, would answer as if the request had been read."""
    try:
        pairs = parse_qsl(query.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return _problem(400, "query string is not valid UTF-8")
    names = [name for name, _ in pairs]
    unknown = sorted(set(names) - set(known))
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        if not known:
            return _problem(400, f"{method} {path[:200]} takes no query parameters; got {shown}")
        s = "s" if len(unknown) > 1 else ""
        return _problem(400, f"unknown query parameter{s} {shown}; expected {', '.join(known)}")
    for name in known:
        if names.count(name) > 1:
            return _problem(400, f"{name!r} given {names.count(name)} times; give it once")
    return dict(pairs)


def _events(app: App, params: dict[str, str]) -> Answer:
    limit_s = params.get("limit", "100")
    try:
        limit = int(limit_s)
    except ValueError:
        return _problem(400, f"limit must be an integer between 1 and {MAX_EVENTS_LIMIT}, got {limit_s[:40]!r}")
    if not 1 <= limit <= MAX_EVENTS_LIMIT:
        return _problem(400, f"limit must be between 1 and {MAX_EVENTS_LIMIT}, got {limit}")
    user_id = params.get("user_id")
    if user_id is not None and not user_id.strip():
        return _problem(400, "user_id is empty: give a user id, or leave it out for every user's events")
    sql = "SELECT uid, sid, source, received_at, profile_id, body FROM accepted WHERE endpoint = 'events'"
    args: list[Any] = []
    if user_id:
        p = app.state.profile(user_id)
        if p is None:
            return _problem(404, f"no profile has user id {user_id[:200]!r}; send /app/externalIds first")
        uids, pids = sorted(p.user_ids), sorted(p.merged_ids | {p.id})
        sql += f" AND (uid IN ({','.join('?' * len(uids))}) OR profile_id IN ({','.join('?' * len(pids))}))"
        args += uids + pids
    sql += " ORDER BY id DESC LIMIT ?"
    args.append(limit)
    rows = app.store.query(sql, tuple(args))
    return _json(
        200,
        {
            "events": [
                {
                    "uid": uid,
                    "sid": sid,
                    "source": source,
                    "received_at": at,
                    "profile_id": pid,
                    # The stored bytes as they are (valid JSON: they were read to be accepted): parsed and
                    # written again, a body near orjson's depth limit would pass it 3 levels down.
                    "body": orjson.Fragment(body),
                }
                for uid, sid, source, at, pid, body in rows
            ]
        },
    )


def handle(
    app: App,
    method: str,
    path: str,
    query: bytes,
    body: bytes,
    *,
    content_type: bytes | None = None,
    host: bytes | None = None,
    origin: bytes | None = None,
    auth: bytes | None = None,
) -> Answer:
    """Answer one admin request: ``(status, JSON bytes, extra header lines)``."""
    refusal = guard(app, method, path[len("/_admin") :].rstrip("/") or "/", content_type, host, origin, auth)
    if refusal is not None:
        return refusal
    try:
        return _handle(app, method, path, query, body, content_type)
    except sqlite3.Error as exc:
        # The store is locked or full: say so (and when to come back) rather than a 500.
        status, payload, _ = _problem(503, f"the mock's store cannot answer now ({exc}); retry in a moment")
        return status, payload, b"Retry-After: 1\r\n"


def _health(app: App) -> Answer:
    why = app.store.unavailable()
    if why is None:
        return _json(200, {"status": "ok"})
    return _json(503, {"status": "unavailable", "reason": f"{why}; tracking requests get 503 with Retry-After"})


def _handle(app: App, method: str, path: str, query: bytes, body: bytes, content_type: bytes | None) -> Answer:
    route = path[len("/_admin") :].rstrip("/") or "/"
    if route.startswith("/profiles/"):
        if method != "GET":
            return _method(method, path, "GET")
        unread = _params(method, path, query, ())
        if not isinstance(unread, dict):
            return unread
        uid = unquote(route[len("/profiles/") :])
        p = app.state.profile(uid)
        if p is None:
            return _problem(404, f"no profile has user id {uid[:200]!r}; send /app/externalIds first")
        return _json(200, p.to_dict())
    allowed = {
        "/health": "GET",
        "/stats": "GET",
        "/events": "GET",
        "/reset": "POST",
        "/faults": "GET, PUT",
        "/openapi.json": "GET",
        "/refuse": "POST",
        "/outage": "POST",
    }.get(route)
    if allowed is None:
        return _problem(404, f"no admin endpoint at {path[:200]}; see GET /_admin/openapi.json")
    if method not in allowed.split(", "):
        return _method(method, path, allowed)
    params = _params(method, path, query, EVENTS_PARAMS if route == "/events" else ())
    if not isinstance(params, dict):
        return params
    not_json = _needs_json(method, route, content_type)
    if not_json is not None:
        return not_json
    if route == "/health":
        return _health(app)
    if route == "/stats":
        return _json(200, app.stats())
    if route == "/events":
        return _events(app, params)
    if route == "/reset":
        # The one call that cannot be undone: a body it cannot read is a request gone wrong, not a reset.
        if body.strip():
            usage = "POST /_admin/reset takes no parameters: send no body, or {}"
            data = _read(body, usage)
            if isinstance(data, tuple):
                return data
            if data != {}:
                return _problem(400, f"{usage}; got {body[:100].decode('utf-8', 'replace')!r}")
        app.reset()
        return _json(200, {"reset": True})
    if route == "/refuse":
        return _refuse(app, body)
    if route == "/outage":
        return _outage(app, body)
    if route == "/openapi.json":
        host = app.url or "http://127.0.0.1:8080"
        return 200, _openapi_bytes(host), b""
    # /faults
    if method == "GET":
        return _json(200, app.injector.config.to_dict())
    data = _read(body, "see GET /_admin/openapi.json")
    if isinstance(data, tuple):
        return data
    try:
        config = FaultConfig.from_dict(data)
    except (FaultError, TypeError) as exc:
        return _problem(400, str(exc))
    app.set_faults(config)
    return _json(200, config.to_dict())


def _read(body: bytes, usage: str) -> Any:
    """The JSON value of an admin body, or the 400 naming what is wrong (a tuple: JSON never reads as one).

    A key given twice is refused as on the tracking endpoints: orjson keeps the last value, while
    whoever wrote it twice may have meant the first (an error rate, how long to refuse).
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return _problem(400, f"body is not valid JSON: {exc}; {usage}")
    repeated = contract.repeated_keys(body, data)
    if repeated:
        return _problem(400, f"{repeated[0]}; {usage}")
    return data


def _timed(body: bytes, keys: tuple[str, ...], usage: str) -> dict[str, Any] | Answer:
    """The object of ``keys`` (``for`` among them, read as seconds) in the body, or the 400 naming what is wrong."""
    data = _read(body, usage)
    if isinstance(data, tuple):
        return data
    if not isinstance(data, dict):
        return _problem(400, f"expected an object with the keys {', '.join(map(repr, keys))}; {usage}")
    unknown = sorted(data.keys() - set(keys))
    if unknown:
        return _problem(400, f"unknown key {unknown[0][:40]!r}; {usage}")
    missing = [key for key in keys if key not in data]
    if missing:
        return _problem(400, f"'{missing[0]}' is missing; {usage}")
    value = data["for"]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return _problem(400, f"'for' must be seconds or a duration, got {str(value)[:40]!r}; {usage}")
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        return _problem(400, f"cannot read duration {value!r}: {exc}; {usage}")
    if not 0 < seconds <= MAX_REFUSE_S:  # also rejects NaN
        return _problem(400, f"'for' must be above 0 and at most {MAX_REFUSE_S:g} s, got {seconds:g}; {usage}")
    return {**data, "for": seconds}


def _refuse(app: App, body: bytes) -> Answer:
    usage = f'send {{"for": SECONDS}} with 0 < SECONDS <= {MAX_REFUSE_S:g}, e.g. {{"for": 20}} or {{"for": "20s"}}'
    data = _timed(body, ("for",), usage)
    if not isinstance(data, dict):
        return data
    return _json(200, {"refusing_for": round(app.refuse(data["for"]), 3)})


def _outage(app: App, body: bytes) -> Answer:
    statuses = ", ".join(map(str, ERROR_STATUSES))
    usage = f'send {{"for": SECONDS, "status": STATUS}}, STATUS one of {statuses}, e.g. {{"for": "20s", "status": 503}}'
    data = _timed(body, ("for", "status"), usage)
    if not isinstance(data, dict):
        return data
    status = data["status"]
    if status.__class__ is not int or status not in ERROR_STATUSES:
        return _problem(400, f"'status' must be one of {statuses}, got {str(status)[:40]!r}; {usage}")
    app.outage(status, data["for"])
    return _json(200, {"outage_for": data["for"], "status": status})


def _method(method: str, path: str, allowed: str) -> Answer:
    status, payload, _ = _problem(405, f"{method} is not allowed on {path[:200]}; use {allowed}")
    return status, payload, f"Allow: {allowed}\r\n".encode()
