"""The mock's command-line options, shared by ``loadsim mock`` and ``python -m simulator.mock``."""

from __future__ import annotations

import argparse

from simulator.duration import parse_duration
from simulator.mock.admin import ADMIN_TOKEN_ENV, ADMIN_TOKEN_FILE_ENV, admin_token_from_env
from simulator.mock.faults import FaultConfig, FaultError
from simulator.mock.limits import Limits
from simulator.mock.state import MAX_PROFILES
from simulator.mock.store import MAX_MEMORY_BYTES

__all__ = ["add_arguments", "faults_from_args", "limits_from_args", "serve_from_args"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to bind; 0 picks a free one (default: 8080)")
    parser.add_argument(
        "--store",
        default="loadsim-mock.sqlite3",
        metavar="PATH|:memory:",
        help="SQLite file for every accepted and rejected body; an existing one is appended to, new profile "
        "ids following its highest (default: loadsim-mock.sqlite3)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault draws (default: 0)")
    parser.add_argument(
        "--sync",
        action="store_true",
        help="commit every accepted body before answering 200: nothing acknowledged is lost even on SIGKILL "
        "(default: batches every 50 ms, so a SIGKILL loses up to the last ~50-100 ms of answers)",
    )
    parser.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help=f"every admin call but /_admin/health needs 'Authorization: Bearer TOKEN' (default: ${ADMIN_TOKEN_ENV}, "
        f"or the file ${ADMIN_TOKEN_FILE_ENV}); required when --host is not a loopback address",
    )
    parser.add_argument(
        "--admin-token-file", metavar="PATH", help="read the admin token from this file (a mounted secret)"
    )
    parser.add_argument(
        "--admin-port",
        type=int,
        metavar="P",
        help="serve the admin API on this port only (0 picks a free one), so the tracking port carries none",
    )
    lim = parser.add_argument_group("limits and timeouts", "as a production server has them (nginx's in brackets)")
    d = Limits()
    lim.add_argument(
        "--max-request-line",
        type=int,
        default=d.max_request_line,
        metavar="BYTES",
        help=f"longer request lines get 414 (default: {d.max_request_line})",
    )
    lim.add_argument(
        "--max-header-bytes",
        type=int,
        default=d.max_header_bytes,
        metavar="BYTES",
        help=f"larger header blocks get 431 (default: {d.max_header_bytes})",
    )
    lim.add_argument(
        "--max-body",
        type=int,
        default=d.max_body,
        metavar="BYTES",
        help=f"larger bodies get 413, from Content-Length before any 100 Continue (default: {d.max_body})",
    )
    lim.add_argument(
        "--header-timeout",
        default=f"{d.header_timeout:g}s",
        metavar="T",
        help=f"a request's headers must arrive within T, else 408 (default: {d.header_timeout:g}s)",
    )
    lim.add_argument(
        "--body-timeout",
        default=f"{d.body_timeout:g}s",
        metavar="T",
        help=f"longest pause while a body arrives, else 408 (default: {d.body_timeout:g}s)",
    )
    lim.add_argument(
        "--idle-timeout",
        default=f"{d.idle_timeout:g}s",
        metavar="T",
        help=f"idle keep-alive connections close after T (default: {d.idle_timeout:g}s)",
    )
    lim.add_argument(
        "--max-connections",
        type=int,
        metavar="N",
        help="connections served at once before the oldest idle ones are closed (default: what the "
        "file descriptor limit allows)",
    )
    lim.add_argument(
        "--memory-store-cap",
        type=int,
        default=MAX_MEMORY_BYTES,
        metavar="BYTES",
        help="with --store :memory:, bytes of rows kept; past them bodies are counted and digested, not kept "
        f"(stats: bodies_dropped; default: {MAX_MEMORY_BYTES})",
    )
    lim.add_argument(
        "--max-profiles",
        type=int,
        default=MAX_PROFILES,
        metavar="N",
        help=f"stitched profiles kept before the oldest tenth is forgotten (default: {MAX_PROFILES:,})",
    )
    faults = parser.add_argument_group(
        "faults", "each may be repeated and prefixed by an endpoint: identify=..., events=..., externalIds=..."
    )
    faults.add_argument(
        "--latency",
        action="append",
        metavar="SPEC",
        help="'123ms', 'uniform:10ms-50ms' or 'lognormal:median=40ms,p99=400ms'",
    )
    faults.add_argument(
        "--error-rate",
        action="append",
        metavar="RATE[:STATUS]",
        help="share of requests answered with STATUS (500, 502, 503, 504 or 429; default 500)",
    )
    faults.add_argument("--retry-after", metavar="T", help="Retry-After of 429/503 answers (default: 1s)")
    faults.add_argument(
        "--hold-rate", action="append", metavar="RATE", help="share of requests never answered (client timeouts)"
    )
    faults.add_argument(
        "--reset-rate", action="append", metavar="RATE", help="share of requests whose connection is reset"
    )
    faults.add_argument(
        "--drop-rate",
        action="append",
        metavar="RATE",
        help="share of valid requests answered 200 but not stored (planted loss)",
    )
    faults.add_argument(
        "--freeze-at", metavar="T", help="start of a window in which every request stalls, after the first request"
    )
    faults.add_argument("--freeze-for", metavar="T", help="length of that window (e.g. 5s)")


def faults_from_args(args: argparse.Namespace) -> FaultConfig:
    """The fault configuration of parsed arguments; raises ``FaultError`` with what to write instead."""
    return FaultConfig.from_flags(
        latency=args.latency,
        error_rate=args.error_rate,
        retry_after=args.retry_after,
        hold_rate=args.hold_rate,
        reset_rate=args.reset_rate,
        drop_rate=args.drop_rate,
        freeze_at=args.freeze_at,
        freeze_for=args.freeze_for,
    )


def limits_from_args(args: argparse.Namespace) -> Limits:
    """The limits of parsed arguments; raises ``FaultError`` naming the flag and the value."""
    times: dict[str, float] = {}
    for name in ("header_timeout", "body_timeout", "idle_timeout"):
        flag = "--" + name.replace("_", "-")
        try:
            times[name] = parse_duration(getattr(args, name))
        except ValueError as exc:
            raise FaultError(f"{flag}: cannot read duration {getattr(args, name)!r}: {exc}") from None
    try:
        return Limits(
            max_request_line=args.max_request_line,
            max_header_bytes=args.max_header_bytes,
            max_body=args.max_body,
            max_connections=args.max_connections,
            **times,
        )
    except ValueError as exc:
        name = str(exc).split(" ", 1)[0]
        raise FaultError(f"--{name.replace('_', '-')}: {exc}") from None


def serve_from_args(args: argparse.Namespace) -> int:
    """Run ``serve`` from parsed arguments; returns an exit code (2 for a bad flag or busy port, or
    when acknowledged rows could not be written before stopping: a script or CI job must see it)."""
    import sys

    from simulator.mock import FaultError, serve

    try:
        faults = faults_from_args(args)
        limits = limits_from_args(args)
        if args.admin_token is not None and not args.admin_token.strip():
            # An empty token would read as "no token": the admin API open, the opposite of what was asked.
            raise ValueError(
                "--admin-token is empty, which would leave the admin API without authentication; "
                "give a token, or drop --admin-token to run without one"
            )
        token = args.admin_token or admin_token_from_env(args.admin_token_file, refuse_empty=True)
        if token is not None and token != token.strip():
            # HTTP trims a header value's edges: no Authorization header could carry it, every call a 401.
            named = "--admin-token" if args.admin_token else f"${ADMIN_TOKEN_ENV}"  # a token file is stripped
            raise ValueError(
                f"{named} begins or ends with whitespace, which no Authorization header can carry; "
                "give the token without it"
            )
    except (FaultError, ValueError) as exc:
        print(f"loadsim mock: {exc}", file=sys.stderr)
        return 2
    try:
        lost = serve(
            host=args.host,
            port=args.port,
            store=args.store,
            faults=faults,
            seed=args.seed,
            sync=args.sync,
            limits=limits,
            admin_token=token,
            memory_store_cap=args.memory_store_cap,
            max_profiles=args.max_profiles,
            admin_port=args.admin_port,
        )
    except ValueError as exc:  # a non-loopback --host without a token, a port out of range, a bad --store
        print(f"loadsim mock: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"loadsim mock: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
            "choose another --port (0 picks a free one)",
            file=sys.stderr,
        )
        return 2
    return 2 if lost else 0
