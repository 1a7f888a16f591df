"""The mock's command-line options, shared by ``loadsim mock`` and ``python -m simulator.mock``."""

from __future__ import annotations

import argparse

from simulator.mock.faults import FaultConfig

__all__ = ["add_arguments", "faults_from_args", "serve_from_args"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to bind; 0 picks a free one (default: 8080)")
    parser.add_argument(
        "--store",
        default="loadsim-mock.sqlite3",
        metavar="PATH|:memory:",
        help="SQLite file for every accepted and rejected body (default: loadsim-mock.sqlite3)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault draws (default: 0)")
    parser.add_argument(
        "--sync",
        action="store_true",
        help="commit every accepted body before answering 200: nothing acknowledged is lost even on SIGKILL "
        "(default: batches every 50 ms, so a SIGKILL loses up to the last ~50-100 ms of answers)",
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
    faults.add_argument("--freeze-at", metavar="T", help="start of a window in which every request stalls")
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


def serve_from_args(args: argparse.Namespace) -> int:
    """Run ``serve`` from parsed arguments; returns an exit code (2 for a bad flag or busy port)."""
    import sys

    from simulator.mock import FaultError, serve

    try:
        faults = faults_from_args(args)
    except FaultError as exc:
        print(f"loadsim mock: {exc}", file=sys.stderr)
        return 2
    try:
        serve(host=args.host, port=args.port, store=args.store, faults=faults, seed=args.seed, sync=args.sync)
    except OSError as exc:
        print(
            f"loadsim mock: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
            "choose another --port (0 picks a free one)",
            file=sys.stderr,
        )
        return 2
    return 0
