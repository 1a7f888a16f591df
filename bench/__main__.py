"""Run the benchmarks: ``python -m bench [NAME ...]`` (default: all ``bench_*`` modules).

Figures go to stdout and to ``reports/bench-<time>.json`` (run output, not kept in git).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path

import orjson

import bench


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in argv] or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; have {', '.join(names)}", file=sys.stderr)
        return 2
    results: dict[str, object] = {}
    for name in wanted:
        print(f"\n== {name} ==", flush=True)
        started = time.perf_counter()
        results[name] = importlib.import_module(f"bench.{name}").main()
        print(f"({time.perf_counter() - started:.1f} s)", flush=True)
    out = Path("reports") / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    print(f"\nfigures written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
