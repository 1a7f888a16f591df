"""``loadsim``: one command whose subcommands parse their arguments and call the library.

Exit codes: 0 success (all SLOs met), 1 an SLO failed or a check found problems,
2 a usage, configuration or harness error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import orjson

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2

Handler = Callable[[argparse.Namespace], int]


# --- loadsim contract ---------------------------------------------------------------------------

def _add_contract(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("contract", help="print the API contract (fields, types, formats)",
                       description="Print the CustomerLabs Mobile Tracking API contract loadsim checks against.")
    p.add_argument("--openapi", action="store_true", help="print it as an OpenAPI 3.1 JSON document")
    p.set_defaults(handler=_cmd_contract)


def _cmd_contract(args: argparse.Namespace) -> int:
    from simulator import contract

    if args.openapi:
        sys.stdout.write(orjson.dumps(contract.openapi(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return EXIT_OK
    sys.stdout.write(contract.describe())
    return EXIT_OK


# --- the command --------------------------------------------------------------------------------

class UsageError(Exception):
    """A bad argument: printed as ``loadsim: error: ...`` with exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loadsim",
        description="Load testing and traffic simulation for the CustomerLabs Mobile Tracking API.",
        epilog="Exit codes: 0 success, 1 an SLO failed or a check found problems, 2 usage or harness error.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_add_contract,):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        parser.error(str(exc))  # exits 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `loadsim sample | head` closes the pipe early: not an error.
        sys.stderr.close()
        return EXIT_OK
