"""``python -m simulator.mock [--port 0] ...``: the mock in the foreground, as ``loadsim mock``.

Its first line on stdout is ``loadsim mock listening on http://HOST:PORT``.
"""

from __future__ import annotations

import argparse

from simulator.mock.options import add_arguments, serve_from_args

parser = argparse.ArgumentParser(prog="python -m simulator.mock", description="The mock CustomerLabs collector.")
add_arguments(parser)
raise SystemExit(serve_from_args(parser.parse_args()))
