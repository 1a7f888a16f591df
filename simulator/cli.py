"""``loadsim``: one command whose subcommands parse their arguments and call the library.

Exit codes: 0 success (all SLOs met), 1 an SLO failed or a check found problems,
2 a usage, configuration or harness error, 3 a run interrupted (a signal) before its planned
run time with no SLO failed so far: not a pass.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

import simulator
from simulator import held
from simulator.errors import HarnessError, ScenarioError, not_started

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 3

Handler = Callable[[argparse.Namespace], int]


# --- loadsim contract ---------------------------------------------------------------------------


def _add_contract(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "contract",
        help="print the API contract (fields, types, formats)",
        description="Print the CustomerLabs Mobile Tracking API contract loadsim checks against.",
    )
    p.add_argument("--openapi", action="store_true", help="print it as an OpenAPI 3.1 JSON document")
    p.set_defaults(handler=_cmd_contract)


def _cmd_contract(args: argparse.Namespace) -> int:
    from simulator import contract

    if args.openapi:
        sys.stdout.write(orjson.dumps(contract.openapi(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return EXIT_OK
    sys.stdout.write(contract.describe())
    return EXIT_OK


# --- loadsim sample -----------------------------------------------------------------------------


def _add_sample(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sample",
        help="print example requests of each endpoint",
        description="Print example requests (method, path, headers, body) from a small "
        "seeded population: what the harness sends.",
    )
    p.add_argument("--count", type=int, default=1, metavar="N", help="requests per endpoint (default 1)")
    p.add_argument(
        "--seed", type=int, default=None, metavar="S", help="random seed, 0 to 2147483647 (default: the scenario's)"
    )
    p.add_argument(
        "--scenario", default="smoke", metavar="SCENARIO", help="bundled scenario name or path (default smoke)"
    )
    p.add_argument(
        "--at",
        metavar="TIME|now",
        help="when the first device starts: an ISO 8601 date or time (UTC unless it says), or now for the "
        "wall clock (default: the scenario's [time] start, so a seed always gives the same bytes)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(handler=_cmd_sample)


def _cmd_sample(args: argparse.Namespace) -> int:
    from simulator import sample

    if args.count < 1:
        raise UsageError("--count must be at least 1")
    try:
        now = None if args.at is None else sample.parse_at(args.at)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    requests = sample.sample_requests(scenario=args.scenario, count=args.count, seed=args.seed, now=now)
    write = sys.stdout.write
    for r in requests:
        write(sample.as_json_line(r) if args.json else sample.as_text(r))
    return EXIT_OK


# --- loadsim run --------------------------------------------------------------------------------


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, harness: bool = True) -> None:
    p = sub.add_parser(
        "run",
        help="run a load test (headless Locust) and write its report",
        description="Run the scenario's load test with Locust, headless. With no --host, the mock collector "
        "is started on a free loopback port first and stopped afterwards. Every harness option "
        "(--app-id, --think-scale...) is accepted as is; other Locust flags go after --, e.g. "
        "loadsim run smoke -- --loglevel DEBUG.",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="bundled scenario name (see loadsim scenarios) or path")
    p.add_argument("--host", help="target base URL (default: start the mock collector)")
    p.add_argument("--users", type=int, metavar="N", help="concurrent users (default: the scenario's)")
    p.add_argument("--rate", type=float, metavar="R", help="open model: target arrivals/s (default: the scenario's)")
    p.add_argument("--run-time", metavar="T", help="e.g. 30s, 5m, 1h (default: the scenario's)")
    p.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help="Locust worker processes on this host (-1: one per CPU this process may use)",
    )
    p.add_argument("--seed", type=int, metavar="S", help="random seed, 0 to 2147483647 (default: the scenario's)")
    p.add_argument("--report-dir", type=Path, metavar="DIR", help="where the report goes (default reports/<run id>)")
    p.add_argument("--load-model", choices=["closed", "open"], help="default: the scenario's")
    p.add_argument("--target", choices=["mock", "customerlabs"], help="default: the scenario's (mock)")
    p.add_argument("--webhook-url", help="events webhook URL of your CustomerLabs source (never printed)")
    p.add_argument(
        "--confirm-real-target",
        action="store_true",
        help="required with --target customerlabs: you mean to send real traffic",
    )
    p.add_argument("--rate-cap", type=float, metavar="R", help="most requests/s allowed against a real target")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the Locust command, send nothing")
    p.set_defaults(handler=_cmd_run, harness_flags=_add_harness_options(p) if harness else ())


def _add_harness_options(p: argparse.ArgumentParser) -> tuple[tuple[str, str, bool], ...]:
    """Every other harness option, from the harness's own definitions (simulator.loadtest.options), so
    ``loadsim run smoke --app-id x`` needs no ``--``: given ones go to Locust as they came. Returns
    (flag, dest, is a switch) of each. Importing the options imports Locust: only for ``run``."""
    from simulator.loadtest import options

    group = p.add_argument_group("harness options (handed to Locust)")
    taken = {s for a in p._actions for s in a.option_strings}
    added: list[tuple[str, str, bool]] = []

    class Definitions:
        """Takes Locust's add_argument calls; drops what only Locust's parser knows."""

        def add_argument(self, *names: str, **kwargs: Any) -> None:
            if taken.intersection(names) or "--scenario" in names:
                return  # run has its own flag (or the positional SCENARIO)
            for locust_only in ("include_in_web_ui", "is_secret", "env_var"):
                kwargs.pop(locust_only, None)
            kwargs["default"] = argparse.SUPPRESS  # only what the user gave goes to Locust
            action = group.add_argument(*names, **kwargs)
            added.append((names[0], action.dest, action.nargs == 0))

    options.add_arguments(Definitions())
    return tuple(added)


def _harness_args(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    for flag, dest, switch in getattr(args, "harness_flags", ()):
        if hasattr(args, dest):
            value = getattr(args, dest)
            out += [flag] if switch else [flag, str(value)]
    return out


def _run_time(value: str | None) -> str | None:
    """``--run-time`` checked and written as Locust reads it (whole seconds): ``1.5m`` -> ``90s``."""
    if value is None:
        return None
    from simulator.duration import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"--run-time {value!r}: {exc}") from None
    if seconds < 1:
        raise UsageError(f"--run-time {value!r}: a run lasts at least 1s")
    return f"{round(seconds)}s"


def _cmd_run(args: argparse.Namespace) -> int:
    from simulator.loadtest.runner import RunOptions, run

    return run(
        RunOptions(
            scenario=args.scenario,
            host=args.host,
            users=args.users,
            rate=args.rate,
            run_time=_run_time(args.run_time),
            processes=args.processes,
            seed=args.seed,
            report_dir=args.report_dir,
            load_model=args.load_model,
            target=args.target,
            webhook_url=args.webhook_url,
            confirm_real_target=args.confirm_real_target,
            rate_cap=args.rate_cap,
            locust_args=(*_harness_args(args), *args.passthrough),
            dry_run=args.dry_run,
            # --endpoint E: one endpoint's bodies back to back (the endpoint locustfile), not the journeys.
            locustfile="endpoint" if hasattr(args, "endpoint") else "tracking",
        )
    )


# --- loadsim validate / scenarios ----------------------------------------------------------------


def _add_validate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "validate",
        help="check scenario files",
        description="Check scenario files: every problem of each, with its file, field and "
        "value; then play a few devices and check their bodies against the "
        "contract. Exit code 1 if any problem is found.",
    )
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="bundled scenario name or path")
    p.set_defaults(handler=_cmd_validate)


def _cmd_validate(args: argparse.Namespace) -> int:
    from simulator.scenario_check import validate_scenario

    failed = False
    for name in args.scenarios:
        try:
            s = validate_scenario(name)
        except ScenarioError as exc:
            failed = True
            sys.stdout.write(f"{exc}\n")
            continue
        for w in s.warnings:
            sys.stdout.write(f"{w}\n")
        sys.stdout.write(f"ok: {s.path or name} ({s.name}: {s.description or 'no description'})\n")
    return EXIT_FAILED if failed else EXIT_OK


def _add_scenarios(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "scenarios",
        help="list the bundled scenarios",
        description="List the bundled scenarios, one a line: the name to pass to run, "
        "validate, sample or generate, and what it is for.",
    )
    p.set_defaults(handler=_cmd_scenarios)


def _cmd_scenarios(args: argparse.Namespace) -> int:
    from simulator.scenario import bundled_scenarios

    found = bundled_scenarios()
    width = max((len(n) for n, _ in found), default=0)
    for name, description in found:
        sys.stdout.write(f"{name:<{width}}  {description}\n")
    return EXIT_OK


def _add_locustfile(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from simulator import locustfiles

    p = sub.add_parser(
        "locustfile",
        help="print the path of a bundled locustfile, to run Locust yourself",
        description="Print the path of a bundled locustfile inside the installed package, for "
        'locust -f "$(loadsim locustfile tracking)" --host URL --scenario smoke. tracking plays the '
        "scenario's journeys, endpoint posts one endpoint's bodies back to back, replay sends a dataset.",
    )
    p.add_argument(
        "name", nargs="?", default="tracking", choices=locustfiles.NAMES, help="which one (default tracking)"
    )
    p.set_defaults(handler=_cmd_locustfile)


def _cmd_locustfile(args: argparse.Namespace) -> int:
    from simulator import locustfiles

    sys.stdout.write(f"{locustfiles.path(args.name)}\n")
    return EXIT_OK


# --- loadsim mock -------------------------------------------------------------------------------


def _add_mock(sub: argparse._SubParsersAction[argparse.ArgumentParser], *, options: bool = True) -> None:
    p = sub.add_parser(
        "mock",
        help="run the mock CustomerLabs collector",
        description="Run the mock collector in the foreground: validates, stitches identities, "
        "stores every body in SQLite, injects faults on request; admin API under "
        "/_admin/. Prints 'loadsim mock listening on URL' first; SIGINT/SIGTERM "
        "flush the store and stop.",
    )
    if options:  # they import the mock (asyncio, gevent...): only when the mock is what runs
        from simulator.mock.options import add_arguments

        add_arguments(p)
    p.set_defaults(handler=_cmd_mock)


def _cmd_mock(args: argparse.Namespace) -> int:
    from simulator.mock.options import serve_from_args

    return serve_from_args(args)


# --- loadsim ui ---------------------------------------------------------------------------------


def _add_ui(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ui",
        help="open Locust's web UI with the harness (and the mock, unless --host is given)",
        description="Start Locust's web UI on 127.0.0.1 with the scenario preselected in its start form, "
        "and the Harness tab (percentiles per endpoint and step, funnel, drops, reconciliation). "
        "With no --host, the mock collector is started on a free loopback port and stopped when "
        "you quit (Ctrl-C). Stopping a test in the UI writes its report (default reports/<run id>/). "
        "Extra Locust flags go after --, e.g. loadsim ui smoke -- --processes 2.",
    )
    p.add_argument(
        "scenario",
        nargs="?",
        default="smoke",
        metavar="SCENARIO",
        help="bundled scenario name or path, preselected in the form (default smoke)",
    )
    p.add_argument("--host", help="target base URL (default: start the mock collector)")
    p.add_argument("--web-port", type=int, default=8089, metavar="P", help="web UI port (default 8089)")
    p.add_argument(
        "--report-dir",
        type=Path,
        metavar="DIR",
        help="where each stopped test's report goes (default reports/<run id>/, one per test)",
    )
    p.set_defaults(handler=_cmd_ui)


def _cmd_ui(args: argparse.Namespace) -> int:
    from simulator.loadtest.runner import RunOptions, run

    if not 0 < args.web_port < 65536:
        raise UsageError("--web-port must be between 1 and 65535")
    return run(
        RunOptions(
            scenario=args.scenario,
            host=args.host,
            report_dir=args.report_dir,
            web_port=args.web_port,
            locust_args=tuple(args.passthrough),
        )
    )


# --- loadsim report / compare -------------------------------------------------------------------


def _add_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="render a run's report again from its saved data",
        description="Write summary.md, junit.xml and report.html of a run again from its saved "
        "summary.json and stats.json; nothing is re-run. Exit code 2 if RUN_DIR is "
        "not a run report.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run's report directory (reports/<run id>/)")
    p.set_defaults(handler=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from simulator.report.summary import render_again

    paths = render_again(args.run_dir)
    sys.stdout.write(f"loadsim: rendered {', '.join(p.name for p in paths)} in {args.run_dir}/\n")
    return EXIT_OK


def _add_compare(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "compare",
        help="compare two runs; exit 1 on a regression (a CI gate)",
        description="Print the differences between two runs per endpoint and journey step (p50/p95/p99/max "
        "latency with their 95%% confidence intervals, requests/s, error rate). Exit code 1 if a latency "
        "percentile of NEW_RUN grew beyond --max-regression AND beyond --min-delta (and its interval "
        "clears the base's), or its error rate grew beyond --max-regression; 0 if not; 2 on bad input. "
        "Percentiles with under 50 requests above them in either run, and max, are shown but not gated; "
        "the error rate may also exceed the threshold by one request or 0.1%% of requests.",
    )
    p.add_argument("base", type=Path, metavar="BASE_RUN", help="the reference run's report directory")
    p.add_argument("new", type=Path, metavar="NEW_RUN", help="the run to judge")
    p.add_argument(
        "--max-regression", default="10%", metavar="PCT", help="largest allowed growth, e.g. 10%% or 0.1 (default 10%%)"
    )
    p.add_argument(
        "--min-delta",
        type=float,
        default=1.0,
        metavar="MS",
        help="a latency grows by at least this many ms (and 2%% of itself, the histograms' resolution) "
        "before it can regress (default 1)",
    )
    p.set_defaults(handler=_cmd_compare)


def _cmd_compare(args: argparse.Namespace) -> int:
    from simulator.report.compare import compare, format_comparison, parse_regression
    from simulator.report.summary import load_run_stats, load_summary

    try:
        threshold = parse_regression(args.max_regression)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not args.min_delta >= 0:
        raise UsageError(f"--min-delta must be 0 ms or more, got {args.min_delta:g}")
    result = compare(
        load_summary(args.base),
        load_summary(args.new),
        max_regression=threshold,
        min_delta_ms=args.min_delta,
        base_name=str(args.base),
        new_name=str(args.new),
        base_stats=load_run_stats(args.base),
        new_stats=load_run_stats(args.new),
    )
    sys.stdout.write(format_comparison(result))
    return EXIT_FAILED if result.failed else EXIT_OK


# --- loadsim generate / replay -------------------------------------------------------------------


def _add_generate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "generate",
        help="write a synthetic dataset: days of simulated traffic, for demos",
        description="Simulate the scenario's population over days of simulated time (daily and weekly curves "
        "in each device's time zone, install growth, churn, campaign days: the scenario's [time]) "
        "and write what the apps would have sent: requests/<endpoint>.jsonl (exact bodies in "
        "added_at order), a flat events table and the devices table (in --format), summary.json and "
        "README.md. The same scenario and seed give byte-identical files.",
    )
    p.add_argument(
        "scenario", nargs="?", metavar="SCENARIO", help="bundled scenario name (see loadsim scenarios) or path"
    )
    p.add_argument("--out", type=_folder, metavar="DIR", help="output directory (created; required but with --merge)")
    p.add_argument("--users", type=int, metavar="N", help="devices (default: the scenario's population.devices)")
    p.add_argument("--days", type=int, metavar="D", help="simulated days (default: the scenario's time.days)")
    p.add_argument("--start", metavar="DATE", help="first simulated day, e.g. 2026-01-05 (default: time.start)")
    p.add_argument("--seed", type=int, metavar="S", help="random seed, 0 to 2147483647 (default: the scenario's)")
    p.add_argument(
        "--format",
        choices=["csv", "parquet", "jsonl"],
        default="csv",
        help="the events table's format (default csv; parquet needs pyarrow)",
    )
    p.add_argument("--gzip", action="store_true", help="gzip the JSONL and CSV files")
    p.add_argument("--quiet", action="store_true", help="no progress bar (it shows only on a terminal anyway)")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="processes playing the devices (default 1; 0: one per CPU this process may use): the same files for any N",
    )
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="play only shard I (0 to N-1) of N, contiguous devices, into --out for --merge (many machines)",
    )
    p.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="--merge OUT SHARD_DIR...: join the N shard folders into OUT, the dataset one run writes, byte for byte",
    )
    p.set_defaults(handler=_cmd_generate)


def _folder(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder (an empty one would write into the current folder)")
    return Path(text)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be: the same clean-up, exit 143."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated


def _cmd_generate(args: argparse.Namespace) -> int:
    # kill, a Job's pod stopped: the same as Ctrl-C, so the temporary runs go and nothing looks finished.
    signal.signal(signal.SIGTERM, _raise_terminated)
    out = args.merge[0] if args.merge else args.out
    before = _finished_mark(out)
    try:
        return _generate_or_merge(args, before)
    except KeyboardInterrupt:
        sys.stderr.write(f"\nloadsim: interrupted: {_what_is_left(out, before)}\n")
        raise


def _finished_mark(out: Path | None) -> tuple[str, int, int] | None:
    """The summary.json or shard.json that says ``out`` holds a finished dataset or shard (name, inode,
    mtime): the same one after a failure means what was there is there still (writer.publish renames
    a new one in, a new inode)."""
    from simulator.dataset.shards import SHARD_MANIFEST

    for name in ("summary.json", SHARD_MANIFEST):
        try:
            st = (out / name).stat() if out is not None else None
        except OSError:
            continue
        if st is not None:
            return name, st.st_ino, st.st_mtime_ns
    return None


def _what_is_left(out: Path | None, before: tuple[str, int, int] | None) -> str:
    """What a generate or --merge that failed or was stopped left in ``out``, for its last line."""
    now = _finished_mark(out)
    if now is None and before is not None:  # stopped between publish's first and last rename
        return f"no dataset was written, and the one in {out} was partly replaced: generate it again"
    if now is None:
        return _NOTHING_WRITTEN
    kind = "dataset" if now[0] == "summary.json" else "shard"
    if now == before:
        return f"the {kind} already in {out} is unchanged"
    return f"the new {kind} in {out} was finished before that"  # the stop came after publish's last rename


def _generate_or_merge(args: argparse.Namespace, before: tuple[str, int, int] | None) -> int:
    from simulator.dataset import DatasetError, generate
    from simulator.dataset.layout import OptionError
    from simulator.dataset.shards import parse_shard

    if args.merge is not None:
        return _cmd_merge(args, before)
    if args.scenario is None or args.out is None:
        raise UsageError("loadsim generate needs a SCENARIO and --out DIR (or --merge OUT SHARD_DIR... to join shards)")
    try:
        shard = parse_shard(args.shard) if args.shard is not None else None
    except DatasetError as exc:
        raise UsageError(str(exc)) from None
    try:
        summary = generate(
            args.scenario,
            shard=shard,
            out=args.out,
            users=args.users,
            days=args.days,
            start=args.start,
            seed=args.seed,
            table_format=args.format,
            gzip_output=args.gzip,
            quiet=args.quiet,
            jobs=args.jobs,
        )
    except OptionError as exc:
        raise UsageError(str(exc)) from None
    except DatasetError as exc:
        return _dataset_failed(str(exc), args.out, before)
    except OSError as exc:
        return _dataset_failed(_os_problem(exc, args.out), args.out, before)
    except MemoryError:  # past the check of writer.generate: the machine's memory went to something else too
        return _dataset_failed(_OUT_OF_MEMORY, args.out, before)
    if shard is not None:
        part = summary["shard"]
        low, high = part["low"], part["high"]
        # More shards than devices leaves some empty: still a shard the merge needs.
        held = {0: "no device", 1: f"device {low}"}.get(high - low, f"devices {low} to {high - 1}")
        sys.stdout.write(
            f"loadsim: wrote shard {part['index']}/{part['count']} ({held}) "
            f"to {args.out}/; join the shards with loadsim generate --merge OUT SHARD_DIR...\n"
        )
        return EXIT_OK
    _wrote(args.out, summary)
    return EXIT_OK


def _cmd_merge(args: argparse.Namespace, before: tuple[str, int, int] | None) -> int:
    from simulator.dataset import DatasetError
    from simulator.dataset.layout import OptionError
    from simulator.dataset.writer import merge

    # The shards decide the dataset: an option here would either repeat them or contradict them.
    given = [
        flag
        for flag, value in (
            ("SCENARIO", args.scenario),
            ("--out", args.out),
            ("--users", args.users),
            ("--days", args.days),
            ("--start", args.start),
            ("--seed", args.seed),
            ("--shard", args.shard),
            ("--gzip", args.gzip or None),
            ("--format", None if args.format == "csv" else args.format),
            ("--jobs", None if args.jobs == 1 else args.jobs),
        )
        if value is not None
    ]
    if given:
        raise UsageError(
            f"--merge OUT SHARD_DIR... takes everything from the shards; drop {', '.join(given)} "
            "(give those when generating the shards)"
        )
    out, *shards = args.merge
    if not shards:
        raise UsageError("--merge needs the output folder, then the shard folders: --merge OUT SHARD_DIR...")
    try:
        summary = merge(out, shards, quiet=args.quiet)
    except OptionError as exc:
        raise UsageError(str(exc)) from None
    except DatasetError as exc:
        return _dataset_failed(str(exc), out, before)
    except OSError as exc:
        return _dataset_failed(_os_problem(exc, out), out, before)
    _wrote(out, summary)
    return EXIT_OK


def _dataset_failed(problem: str, out: Path | None = None, before: tuple[str, int, int] | None = None) -> int:
    """A dataset that could not be written: one line, no usage text (the command line may be fine).
    Given the output folder, it says what that holds now: the library says what went wrong, only
    here is it known whether a dataset was there before."""
    if out is not None:
        said = _what_is_left(out, before)
        nothing = "no dataset was written"
        problem = problem.replace(nothing, said, 1) if nothing in problem else f"{problem}; {said}"
    sys.stderr.write(f"loadsim: {problem}\n")
    return EXIT_ERROR


def _os_problem(exc: OSError, out: Path | None) -> str:
    """A file system's refusal (full disk, read-only, a file where a folder should be), naming the path."""
    where = exc.filename if exc.filename is not None else out
    return f"cannot write {where}: {exc.strerror or exc}"


_OUT_OF_MEMORY = (
    "ran out of memory: generate fewer devices (--users) or use fewer --jobs, or generate where there is more memory"
)

#: A generate or --merge that failed or was stopped where no dataset was before: its files were
#: staged and never moved in (writer.publish).
_NOTHING_WRITTEN = "no dataset was written (summary.json is absent)"


def _wrote(out: Path, summary: dict[str, Any]) -> None:
    req, days = summary["requests"], summary["dataset"]["days"]
    sys.stdout.write(
        f"loadsim: wrote {out}/: {summary['devices']['total']:,} devices, "
        f"{summary['sessions']:,} sessions, {req['total']:,} requests ({req['faulty']:,} faulty) "
        f"over {days} day{'' if days == 1 else 's'}; see {out}/README.md\n"
    )


def _speed(text: str) -> float:
    from simulator.loadtest.options import speed  # imports Locust: only for a replay given --speed

    return speed(text)


def _add_replay(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay",
        help="send a generated dataset to a target and write a report",
        description="Send a dataset from loadsim generate to the mock collector (started on a free loopback "
        "port when no --host is given) or --host, in order per device, and report like loadsim run. "
        "Extra Locust flags go after --.",
    )
    p.add_argument("dataset", metavar="DIR", type=Path, help="a directory written by loadsim generate")
    p.add_argument("--host", help="target base URL (default: start the mock collector)")
    p.add_argument(
        "--speed",
        type=_speed,
        default=0.0,
        metavar="X",
        help="simulated seconds per real second: 60 plays an hour a minute; 0 (default) as fast as the target answers",
    )
    p.add_argument("--restamp", action="store_true", help="move added_at to the send time")
    p.add_argument(
        "--users",
        type=int,
        default=10,
        metavar="N",
        help="concurrent senders; each owns a share of the devices (default 10)",
    )
    p.add_argument("--run-time", metavar="T", help="stop after this long even if the dataset is not played out")
    p.add_argument("--report-dir", type=Path, metavar="DIR", help="where the report goes (default reports/<run id>)")
    p.add_argument(
        "--mock-admin",
        metavar="URL",
        help="the mock's admin API for reconciliation (default: --host); none: --host is a collector of your own, "
        "nothing is reconciled",
    )
    p.add_argument(
        "--scenario",
        metavar="FILE",
        help="the scenario the dataset was generated with, where it is now (default: the one summary.json names)",
    )
    p.set_defaults(handler=_cmd_replay)


def _cmd_replay(args: argparse.Namespace) -> int:
    from simulator.dataset import DatasetError, check_dataset, read_summary
    from simulator.loadtest.runner import RunOptions, run
    from simulator.scenario import load_scenario

    if args.users < 1:
        raise UsageError("--users must be at least 1")
    run_time = _run_time(args.run_time)
    try:
        summary = read_summary(args.dataset)
    except DatasetError as exc:
        raise UsageError(str(exc)) from None  # not a dataset at all: the command line names the wrong folder
    scenario = args.scenario or summary["dataset"]["scenario_ref"]
    try:
        load_scenario(scenario)  # before anything starts (the replay's Locust reads it again)
    except ScenarioError as exc:
        if args.scenario or Path(scenario).exists():  # given, or there with problems: said as they are
            raise
        # A dataset copied to another machine, or its scenario file moved.
        raise UsageError(
            f"{args.dataset}: the scenario it was generated with, {scenario} (summary.json's scenario_ref), "
            f"cannot be read ({exc.problems[0].message}): give it with --scenario FILE"
        ) from None
    try:
        check_dataset(args.dataset)  # a damaged line found now sends nothing; mid-run it would fail the run
    except DatasetError as exc:
        return _dataset_failed(str(exc))
    extra = ["--dataset", str(args.dataset.resolve()), "--speed", str(args.speed), "--spawn-rate", str(args.users)]
    if args.restamp:
        extra.append("--restamp")
    if args.scenario:  # Locust runs in this folder: the path means the same there
        extra += ["--dataset-scenario", args.scenario]
    if args.mock_admin:
        extra += ["--mock-admin", args.mock_admin]
    return run(
        RunOptions(
            scenario=scenario,
            host=args.host,
            users=args.users,
            run_time=run_time,
            report_dir=args.report_dir,
            load_model="closed",
            locustfile="replay",
            locust_args=(*extra, *args.passthrough),
        )
    )


# --- the command --------------------------------------------------------------------------------


class UsageError(Exception):
    """A bad argument: printed as ``loadsim: error: ...`` with exit code 2."""


class _Version(argparse.Action):
    """``--version``: reads the installed version (importlib.metadata, slow to import) only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        sys.stdout.write(f"loadsim {simulator.__version__}\n")
        parser.exit()


def build_parser(*, only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line. With ``only``, the options that import something heavy (run's harness
    options import Locust, mock's the mock) are added for that command alone: the others are never
    parsed in this process. Default: every command in full."""
    parser = argparse.ArgumentParser(
        prog="loadsim",
        description="Load testing and traffic simulation for the CustomerLabs Mobile Tracking API.",
        epilog="Exit codes: 0 success, 1 an SLO failed or a check found problems, 2 usage or harness error, "
        "3 a run interrupted before its planned run time (not a pass).",
    )
    parser.add_argument("--version", action=_Version, help="show program's version number and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (
        _add_sample,
        _add_contract,
        functools.partial(_add_run, harness=only in (None, "run")),
        _add_validate,
        _add_scenarios,
        _add_locustfile,
        functools.partial(_add_mock, options=only in (None, "mock")),
        _add_ui,
        _add_report,
        _add_compare,
        _add_generate,
        _add_replay,
    ):
        add(sub)
    return parser


#: The commands that run a test: stopped before it began, they say so and exit 3 (an interrupted run).
_RUNS = ("run", "replay", "ui")


def _interrupted(command: str, exc: KeyboardInterrupt, *, began: bool) -> int:
    """The exit code of a stop, ``began`` (the command's handler ran) or while loadsim started."""
    if command in _RUNS:  # a stop once the test is under way is the run's (runner.run): here none began
        return not_started()
    if command == "generate" and not began:  # once begun, _cmd_generate names what --out holds
        sys.stderr.write("loadsim: interrupted before it began: nothing was written\n")
    return 143 if isinstance(exc, _Terminated) else 130


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # numpy's OpenBLAS starts a thread per core when numpy is imported, and they spin for a while: about
    # 0.1 s of CPU per process (each --jobs worker too) for linear algebra loadsim never does. Set before
    # anything imports numpy, by the command only (importing the library changes no setting of its
    # host's); a value the user exported wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Locust (and its gevent patching) only for the command that runs it, the mock's modules likewise:
    # never for generate or sample. Bare `loadsim --help` needs neither ("" is no command).
    command = next((a for a in argv if not a.startswith("-")), "")
    runs = command in _RUNS
    try:
        parser = build_parser(only=command)  # imports Locust for `run`'s options: a second or so
        if runs:  # and for replay and ui (their handlers import the runner, which imports the Locust glue)
            import simulator.loadtest.runner  # noqa: F401
        # The `loadsim` command held Ctrl-C and SIGTERM through those imports. A run takes both: SIGTERM
        # as Ctrl-C until runner.run takes them (a stop before the test, in one line), and SIGINT even
        # if ignored (`loadsim run &` in a script stops on kill -INT), which importing the Locust glue
        # took for a Locust process (hooks) unless held.
        takes: dict[int, object] = {signal.SIGTERM: _raise_terminated, signal.SIGINT: signal.default_int_handler}
        stop = held.release(takes if runs else None)
        if stop is not None:
            raise _Terminated if stop == signal.SIGTERM else KeyboardInterrupt
        # Everything after `--` goes to Locust untouched (loadsim run smoke -- --loglevel DEBUG).
        passthrough = argv[argv.index("--") + 1 :] if "--" in argv else []
        args = parser.parse_args(argv[: len(argv) - len(passthrough) - (1 if "--" in argv else 0)])
    except KeyboardInterrupt as exc:
        return _interrupted(command, exc, began=False)
    args.passthrough = passthrough
    handler: Handler = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        parser.error(str(exc))  # exits 2
    except (ScenarioError, HarnessError) as exc:
        sys.stderr.write(f"loadsim: {exc}\n")
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        return _interrupted(command, exc, began=True)
    except BrokenPipeError:
        # `loadsim sample | head` closes the pipe early: not an error.
        sys.stderr.close()
        return EXIT_OK
