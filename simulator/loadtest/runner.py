"""``loadsim run``: the mock (unless a host is given), then Locust headless with the scenario, then the report.

Locust runs in its own process (gevent patches the whole interpreter) and so does the mock (so
the two never compete for one interpreter). Ctrl-C or SIGTERM reach Locust, which stops its
users and writes the report of what was sent; the mock is stopped last, after the report has
read its counters.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from simulator import locustfiles
from simulator.errors import NOT_STARTED_EXIT, STOPPING, HarnessError, not_started
from simulator.faultspec import MAX_REFUSE_S, FaultConfig, FaultError
from simulator.loadtest.context import CUSTOMERLABS_URL, Target, check_host, check_real_target
from simulator.loadtest.options import rate as rate_option
from simulator.loadtest.options import rate_cap as rate_cap_option
from simulator.machine import usable_cpus
from simulator.mock import LISTENING_PREFIX, admin_headers
from simulator.report.summary import default_report_dir, fail_reconciliation
from simulator.scenario import (
    MOCK_FLAGS,
    check_base_url,
    check_seed,
    load_scenario,
    parse_duration,
    say_warnings,
    step_endpoint,
)
from simulator.scenario_check import check_start_day

if TYPE_CHECKING:  # shape imports Locust, which this process never needs
    from simulator.loadtest.shape import LoadProfile

__all__ = ["HarnessError", "RunOptions", "locustfile", "run"]


def locustfile(name: str = "tracking") -> Path:
    """A bundled locustfile, shipped inside the package (``simulator/locustfiles/<name>.py``)."""
    return locustfiles.path(name)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What ``loadsim run`` was asked for; ``None`` means the scenario decides."""

    scenario: str
    host: str | None = None
    users: int | None = None
    rate: float | None = None
    run_time: str | None = None
    processes: int | None = None
    seed: int | None = None
    report_dir: Path | None = None
    load_model: str | None = None
    target: str | None = None
    webhook_url: str | None = None
    confirm_real_target: bool = False
    rate_cap: float | None = None
    locust_args: tuple[str, ...] = ()
    #: Print the plan and the Locust command; start nothing, send nothing.
    dry_run: bool = False
    #: Open Locust's web UI on this loopback port instead of running headless.
    web_port: int | None = None
    #: The bundled locustfile to run (``simulator/locustfiles/<name>.py``): ``replay`` for ``loadsim replay``.
    locustfile: str = "tracking"


#: The mock's flags that time something in the run: they scale with ``--run-time`` (``LoadProfile.stretch``).
TIMED_MOCK_FLAGS = ("freeze_at", "freeze_for")


def mock_flags(options: Mapping[str, Any], *, stretch: float = 1.0) -> list[str]:
    """The scenario's ``[target.mock]`` flags as the mock's command line (a list repeats the flag);
    the freeze window scaled by ``stretch``, as ``--run-time`` scaled the stages."""
    out: list[str] = []
    for key in MOCK_FLAGS:
        if key in options:
            values = options[key] if isinstance(options[key], list) else [options[key]]
            for v in values:
                if key in TIMED_MOCK_FLAGS and stretch != 1.0:
                    v = f"{parse_duration(v) * stretch:g}s"
                out += [f"--{key.replace('_', '-')}", str(v)]
    return out


def _freeze(options: Mapping[str, Any], *, stretch: float = 1.0) -> tuple[float, float] | None:
    """The freeze the mock is given (start and length in seconds, from its first request), read from
    the flags ``mock_flags`` gives it; None without one."""
    flags = mock_flags({k: options[k] for k in TIMED_MOCK_FLAGS if k in options}, stretch=stretch)
    given = {flags[i]: parse_duration(flags[i + 1]) for i in range(0, len(flags), 2)}
    at, length = given.get("--freeze-at"), given.get("--freeze-for")
    return (at, length) if at is not None and length is not None else None


def _start_mock(
    report_dir: Path, flags: Sequence[str] = (), *, timeout: float = 30.0
) -> tuple[subprocess.Popen[str], str]:
    """The mock on a free loopback port, in its own session so a terminal's Ctrl-C reaches only Locust."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator.mock",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--store",
            str(report_dir / "mock.sqlite3"),
            *flags,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(LISTENING_PREFIX):
            _drain(proc.stdout, report_dir / "mock.log")
            return proc, line[len(LISTENING_PREFIX) :].strip()
    proc.kill()
    raise HarnessError("the mock collector did not start:\n" + "".join(seen[-20:]))


#: The embedded mock's files in a run's report folder: its store and log.
MOCK_FILES = (*(f"mock.sqlite3{tail}" for tail in ("", "-wal", "-shm", "-journal")), "mock.log")
#: The files a run writes in its report folder (the harness's, Locust's, the embedded mock's): an
#: earlier run's are removed before this one writes anything there.
RUN_FILES = (
    "summary.json",
    "junit.xml",
    "summary.md",
    "report.html",
    "stats.json",
    "locust.html",
    *(f"locust_{name}.csv" for name in ("stats", "stats_history", "failures", "exceptions")),
    *MOCK_FILES,
)


def clear_report_dir(report_dir: Path, *, mock: bool) -> None:
    """Make ``report_dir`` and remove what an earlier run left there, its verdict first: a run
    stopped before it writes its own report (or before it reaches it) leaves no earlier verdict
    beside its files. With ``mock`` (this run starts the embedded mock) the mock's files go too, so
    ``mock.sqlite3`` is this run's; without, they may be a mock's the user started (``loadsim mock
    --store``), live. Other files are left as they are."""
    report_dir.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES if mock else RUN_FILES[: -len(MOCK_FILES)]:
        path = report_dir / name
        try:
            path.unlink(missing_ok=True)
        except IsADirectoryError:
            raise HarnessError(f"--report-dir {report_dir}: {path} is a folder where the run writes a file") from None
        except OSError as e:
            raise HarnessError(
                f"--report-dir {report_dir}: the earlier run's {path} cannot be removed ({e.strerror})"
            ) from None


def _drain(stream: IO[str], log_path: Path) -> None:
    """Keep reading the mock's output into a log file so its pipe never fills and blocks it."""

    def pump() -> None:
        with log_path.open("a", encoding="utf-8") as f:
            for line in stream:
                f.write(line)

    threading.Thread(target=pump, name="mock-log", daemon=True).start()


def _death(returncode: int | None) -> str | None:
    """How a process that ended by itself ended: "exit -9, SIGKILL", "exit 1"; None while it runs."""
    if returncode is None:
        return None
    if returncode < 0:
        try:
            return f"exit {returncode}, {signal.Signals(-returncode).name}"
        except ValueError:
            pass
    return f"exit {returncode}"


def _stop(proc: subprocess.Popen[str], *, timeout: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


#: The environment variable naming the pipe Locust's harness writes to once it takes SIGINT (``hooks``).
READY_FD = "LOADSIM_READY_FD"


class _Stop:
    """SIGINT and SIGTERM to ``loadsim`` from the start of ``run``: noted, never raised, so no
    KeyboardInterrupt cuts the start-up short with the mock or Locust left running (each has a
    session of its own), and handed to Locust once it is started.

    Locust spends a second or two importing before the harness takes SIGINT in it; a SIGINT there
    is a traceback (or a "Fatal Python error") and no report. Until its harness says it took SIGINT
    (a byte on the ``READY_FD`` pipe) Locust has sent nothing, so a stop then kills it outright.
    """

    def __init__(self, *, ui: bool = False) -> None:
        #: The web UI: whether a test runs there is known in Locust's process alone, which says what a stop does.
        self.ui = ui
        self.asked = 0
        self.locust: subprocess.Popen[bytes] | None = None
        self.ready: int | None = None  # the pipe's read end
        self.forwarded = False
        #: Killed before its harness took SIGINT: it had sent nothing.
        self.early = False
        #: Killed when asked a second time: no report.
        self.killed = False

    def __call__(self, signum: int, frame: Any) -> None:
        self.asked += 1
        self._act()

    def requested(self) -> bool:
        """A stop was asked for (it may come at any moment: read it where it decides what to start)."""
        return self.asked > 0

    def attach(self, locust: subprocess.Popen[bytes], ready: int) -> None:
        """Locust is started: a stop asked for meanwhile reaches it now."""
        # Held, so that the handler never acts in the middle of this call (a second SIGINT to Locust).
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            self.locust, self.ready = locust, ready
            self._act()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def _kill(self) -> None:
        assert self.locust is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.locust.pid, signal.SIGKILL)

    def _act(self) -> None:
        locust = self.locust
        if not self.asked or locust is None or locust.poll() is not None or self.early or self.killed:
            return
        if self.forwarded:
            if self.asked > 1:  # asked twice: stop hard
                self.killed = True
                self._kill()
            return
        if not self._harness_ready():
            self.early = True
            self._kill()
            return
        self.forwarded = True
        if not self.ui:
            print(f"\n{STOPPING}", file=sys.stderr, flush=True)
        # SIGINT: the harness answers it in every Locust process (SIGTERM only in a headless one,
        # where Locust's own handler is not in place during the test).
        locust.send_signal(signal.SIGINT)

    def _harness_ready(self) -> bool:
        # Its byte, or the end of the pipe (Locust died). Not select(): this process may be gevent's
        # (importing the Locust glue patched it), and a handler running in gevent's hub must not block.
        if self.ready is None:
            return False
        try:
            os.read(self.ready, 1)
        except BlockingIOError:
            return False
        return True


@dataclass(slots=True)
class _Outage:
    """From ``at`` to ``at + length`` seconds after the load starts, through the mock's admin API:
    the mock answers every request with ``status`` (``POST /_admin/outage``) or, with
    ``status = "refuse"``, refuses connections (a collector that is down); it ends either by itself."""

    admin: str
    at: float
    length: float
    status: int | str
    _stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def of(cls, options: Mapping[str, Any], admin: str, *, stretch: float = 1.0) -> _Outage | None:
        """The scenario's outage, its window scaled by ``stretch`` as ``--run-time`` scaled the stages."""
        if "outage_at" not in options:
            return None
        status = options.get("outage_status", 503)
        return cls(
            admin,
            parse_duration(options["outage_at"]) * stretch,
            parse_duration(options["outage_for"]) * stretch,
            status if status == "refuse" else int(status),
        )

    def _send(self, path: str, body: bytes) -> bool:
        req = urllib.request.Request(
            f"{self.admin}{path}",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", **admin_headers()},
        )
        try:
            urllib.request.urlopen(req, timeout=5).close()
        except OSError as e:
            print(
                f"loadsim: WARNING: the scenario's outage did not play: the mock's {path} answered {e}",
                file=sys.stderr,
                flush=True,
            )
            return False
        return True

    def _begin(self) -> bool:
        # One call either way: the mock ends the outage itself, so a harness stopped or killed
        # mid-outage cannot leave it down, and the mock's own faults (a freeze's clock) stay as set.
        if self.status == "refuse":
            played = self._send("/_admin/refuse", orjson.dumps({"for": self.length}))
            what = "refuses connections"
        else:
            played = self._send("/_admin/outage", orjson.dumps({"for": self.length, "status": self.status}))
            what = f"answers {self.status}"
        if played:
            print(f"loadsim: outage: the mock {what} for {self.length:g} s", file=sys.stderr, flush=True)
        return played

    def _end(self) -> None:
        print("loadsim: outage over: the mock is back", file=sys.stderr, flush=True)

    def _load_started(self) -> bool:
        """The mock has had a tracking request: the load is on (admin calls are not counted)."""
        req = urllib.request.Request(f"{self.admin}/_admin/stats", headers=admin_headers())
        try:
            with urllib.request.urlopen(req, timeout=2) as r:
                return int(orjson.loads(r.read()).get("requests", 0)) > 0
        except (OSError, ValueError):
            return False  # not up yet, or busy: asked again

    def _play(self) -> None:
        # The window counts from the load's first request, not from Locust's launch: Locust's start-up
        # (a second or two) would otherwise move the outage that much earlier into the run.
        while not self._load_started():
            if self._stop.wait(0.05):
                return
        if self._stop.wait(self.at):
            return
        if self._begin() and not self._stop.wait(self.length):
            self._end()

    def schedule(self) -> None:
        threading.Thread(target=self._play, name="loadsim-outage", daemon=True).start()

    def cancel(self) -> None:
        self._stop.set()


def locust_command(opts: RunOptions, *, host: str, report_dir: Path) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile(opts.locustfile)),
        "--host",
        host,
        "--scenario",
        opts.scenario,
    ]
    if opts.web_port is None:
        cmd += [
            "--headless",
            "--report-dir",
            str(report_dir),
            "--csv",
            str(report_dir / "locust"),
            "--only-summary",
        ]
    else:  # the web UI, on loopback; each stopped test writes its own report
        cmd += ["--web-host", "127.0.0.1", "--web-port", str(opts.web_port)]
        if opts.report_dir is not None:
            cmd += ["--report-dir", str(opts.report_dir)]
    processes = opts.processes
    if processes is not None and int(processes) == -1:
        processes = usable_cpus()  # Locust's own -1 is os.cpu_count(): the host's, not this process's
    flags: list[tuple[str, object]] = [
        ("--users", opts.users),
        ("--rate", opts.rate),
        ("--run-time", opts.run_time),
        ("--processes", processes),
        ("--seed", opts.seed),
        ("--load-model", opts.load_model),
        ("--target", opts.target),
        ("--rate-cap", opts.rate_cap),
    ]
    for flag, value in flags:
        if value is not None:
            cmd += [flag, str(value)]
    if opts.processes or _given(opts.locust_args, "--processes"):  # loadsim ui passes it after --
        cmd += _master_flags(opts.locust_args)
    if opts.confirm_real_target:
        cmd.append("--confirm-real-target")
    # A webhook URL given after -- reached opts.webhook_url (with_locust_overrides), which goes by the
    # environment: on the command line ps and CI logs would show its secret.
    rest = _without(opts.locust_args, "--webhook-url")
    # One given after -- is opts.processes now (with_locust_overrides), passed above as a count.
    return cmd + (_without(rest, "--processes") if processes is not None else rest)


def _without(args: Sequence[str], flag: str) -> list[str]:
    """``args`` less every ``flag v`` and ``flag=v``."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == flag:
            skip = True
        elif not arg.startswith(flag + "="):
            out.append(arg)
    return out


def _given(args: Sequence[str], flag: str) -> str | None:
    """The value of ``flag`` in a command line (``--flag v`` or ``--flag=v``), the last one given."""
    found = None
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith(flag + "="):
            found = arg.split("=", 1)[1]
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_web_port(port: int) -> None:
    """That Locust can listen on the web UI's port, before anything starts: a port in use was
    gevent's traceback, after the mock had started and the session's folder was made."""
    with socket.socket() as s:
        # As gevent binds it: a port a UI just quit (TIME_WAIT) is free, one listened on is not.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise HarnessError(
                f"--web-port {port}: cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}; another loadsim ui?): "
                "give a free port"
            ) from None


#: How long a headless master of ``--processes`` waits for its forked workers to connect (they do in
#: a second or two: the population is built after, for the shard each is given).
WORKERS_MAX_WAIT_S = 120


def _master_flags(user_args: Sequence[str]) -> list[str]:
    """Where the master that ``--processes`` starts listens, and where its forked workers find it.

    Locust's default is every interface, port 5557: a second run on the host then fails ("Address
    already in use") or its workers join the first run's master. So: loopback (its workers are
    local) and a free port, unless the user gave them (``-- --master-bind-port P``). And a bound on
    the wait for them: Locust's default waits forever for a worker that died before it connected.
    """
    out: list[str] = []
    if _given(user_args, "--expect-workers-max-wait") is None and not _in_settings(
        user_args, "expect_workers_max_wait"
    ):
        out += ["--expect-workers-max-wait", str(WORKERS_MAX_WAIT_S)]
    if _given(user_args, "--master-bind-host") is None:
        out += ["--master-bind-host", "127.0.0.1"]
    bind, port = _given(user_args, "--master-bind-port"), _given(user_args, "--master-port")
    if bind is None and port is None:
        bind = port = str(_free_port())
        out += ["--master-bind-port", bind, "--master-port", port]
    elif bind is None:
        out += ["--master-bind-port", str(port)]
    elif port is None:
        out += ["--master-port", bind]
    return out


def check_run_options(opts: RunOptions) -> None:
    """The options Locust's parser never sees as given (they have their own flags here), checked
    before anything starts; ``HarnessError`` names the flag."""
    if opts.seed is not None:
        try:
            check_seed(opts.seed)
        except ValueError as exc:
            raise HarnessError(f"--seed {exc}") from None
    if opts.host:  # run, ui and replay alike: a bad host would fail every request, after the mock and Locust started
        try:
            check_base_url(opts.host)
        except ValueError as exc:
            raise HarnessError(f"--host {opts.host!r}: {exc}") from None
    _check_load(opts)
    args = opts.locust_args
    if opts.locustfile == "replay" and (
        opts.processes or _given(args, "--processes") or any(a in ("--master", "--worker") for a in args)
    ):
        from simulator.loadtest.replay import ONE_PROCESS  # Locust's arguments import it too (below)

        raise HarnessError(ONE_PROCESS)
    if opts.locustfile == "replay":
        _check_speed(args)
    if opts.web_port is not None and _sets_endpoint(args):
        endpoint = _endpoint_asked(args)
        raise HarnessError(
            f"{_asking(args, endpoint)} loads one endpoint, which runs headless: loadsim run {opts.scenario} "
            f"--endpoint {endpoint}; the web UI plays the scenario's journeys"
        )


def _check_speed(args: Sequence[str]) -> None:
    """A replay's --speed against its dataset's span, as Locust will take them (a flag after -- wins)."""
    from simulator.dataset import DatasetError
    from simulator.loadtest.replay import check_speed

    given = given_to_locust(args)
    if given.get("dataset") is None:
        return  # the locustfile says so itself
    try:
        check_speed(given.get("speed", 0.0), Path(given["dataset"]))
    except (ValueError, DatasetError) as exc:
        raise HarnessError(str(exc)) from None


def _check_load(opts: RunOptions) -> None:
    """The load options, whether a flag, a flag after -- or Locust's settings gave them (the run uses
    what these say): a 0 there read as "the scenario's" in the plan while Locust ran it as given."""
    if opts.users is not None and int(opts.users) < 1:
        raise HarnessError(f"--users must be at least 1, got {opts.users}")
    if opts.processes is not None and int(opts.processes) < 1 and int(opts.processes) != -1:
        raise HarnessError(
            f"--processes must be at least 1 (or -1: one per CPU this process may use), got {opts.processes}"
        )
    for flag, value, kind in (("--rate", opts.rate, rate_option), ("--rate-cap", opts.rate_cap, rate_cap_option)):
        if value is not None:
            try:
                kind(str(value))
            except argparse.ArgumentTypeError as exc:
                raise HarnessError(f"{flag}: {exc}") from None
    if opts.run_time is not None:
        try:
            seconds = parse_duration(opts.run_time)
        except ValueError as exc:
            raise HarnessError(f"--run-time {opts.run_time!r}: {exc}") from None
        if seconds < 1:
            raise HarnessError(f"--run-time {opts.run_time!r}: a run lasts at least 1s")


def check_report_dir(report_dir: Path, *, given: bool = True) -> None:
    """That the report folder can be written, before anything starts (a dry run too): a folder that
    cannot be made failed with a traceback, and one found unwritable only by Locust's end lost the run.
    Probes with a temporary file or folder it removes, so a dry run leaves nothing behind."""
    import tempfile

    what = f"--report-dir {report_dir}" if given else f"the report folder {report_dir} (give --report-dir DIR)"
    parent = report_dir
    while not parent.exists() and parent != parent.parent:  # the nearest folder that is there
        parent = parent.parent
    try:
        if parent == report_dir:
            if not report_dir.is_dir():
                raise HarnessError(f"{what}: cannot write a report there: it is a file, give a folder")
            with tempfile.TemporaryFile(dir=report_dir):
                pass
        elif not parent.is_dir():
            raise HarnessError(f"{what}: cannot write a report there: {parent} is a file")
        else:
            os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".loadsim-probe-"))
    except OSError as exc:
        where = "write in" if parent == report_dir else "create a folder in"
        raise HarnessError(
            f"{what}: cannot write a report there (cannot {where} {parent}: {exc.strerror or exc})"
        ) from None


def _parse_locust(args: Sequence[str], *, settings: bool = True) -> tuple[Any, dict[str, Any]]:
    """Locust's whole parser (with the harness's arguments) over ``args``: the options, and where each
    came from (configargparse's sources); ``HarnessError`` names a bad value (``-- --run-time abc``) or an
    unknown flag. With ``settings`` it reads what Locust reads itself beneath the command line (its config
    files, ``LOCUST_*`` variables); without, Locust's defaults only."""
    import io

    from locust.argument_parser import get_parser

    if "--dataset" in args:  # locustfiles/replay.py adds its own arguments when it is imported
        import simulator.loadtest.replay  # noqa: F401

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            if settings:
                parser = get_parser()
                parsed = parser.parse_args(args=list(args))
            else:
                parser = get_parser(default_config_files=[])
                parsed = parser.parse_args(args=list(args), env_vars={})
    except SystemExit as exc:
        if exc.code:
            lines = [ln for ln in err.getvalue().splitlines() if "error:" in ln] or [err.getvalue().strip()]
            raise HarnessError(f"Locust refuses its arguments: {lines[-1].split('error:', 1)[-1].strip()}") from None
        raise
    return parsed, parser.get_source_to_settings_dict()


def check_locust_arguments(args: Sequence[str]) -> None:
    """Parse Locust's whole command line here, with the harness's arguments, before anything starts:
    a bad value or an unknown flag is a usage error now, not inside Locust after the mock has started."""
    _parse_locust(args)


def given_to_locust(args: Sequence[str], *, settings: bool = True) -> dict[str, Any]:
    """What ``args`` set, by Locust's own reading (``-u 3``, ``--app-id=x``, the last of a repeated flag):
    each destination whose value differs from Locust's defaults. With ``settings``, what Locust's config
    files and ``LOCUST_*`` variables set counts too, beneath the flags, as Locust itself will take it."""
    parsed = vars(_parse_locust(args, settings=settings)[0])  # first: it registers replay's arguments
    baseline = vars(_parse_locust([], settings=False)[0])
    return {k: v for k, v in parsed.items() if v != baseline.get(k)}


def locust_settings(args: Sequence[str]) -> list[str]:
    """What Locust's config files (``locust.conf``, ``~/.locust.conf``, ``pyproject.toml``'s
    ``[tool.locust]``, a ``--config``) and ``LOCUST_*`` variables set beneath Locust's command line
    ``args``: Locust reads them in its own process, so the run must say they apply."""
    said: list[str] = []
    for source, found in _parse_locust(args)[1].items():
        if source.startswith("config_file|"):
            said += [f"{key} = {value} ({source.split('|', 1)[1]})" for key, (_, value) in found.items()]
        elif source == "environment_variables":
            said += [f"{key}={value}" for key, (_, value) in found.items()]
    return said


#: Locust's destinations that ``RunOptions`` also has (Locust's name, the option's).
_OVERRIDES = (
    ("host", "host"),
    ("num_users", "users"),
    ("rate", "rate"),
    ("run_time", "run_time"),
    ("processes", "processes"),
    ("seed", "seed"),
    ("report_dir", "report_dir"),
    ("load_model", "load_model"),
    ("target", "target"),
    ("webhook_url", "webhook_url"),
    ("confirm_real_target", "confirm_real_target"),
    ("rate_cap", "rate_cap"),
)


def with_locust_overrides(opts: RunOptions) -> RunOptions:
    """The options as Locust will take them: a flag after ``--`` comes last on Locust's command line and
    wins, so the plan, the checks (the host, the real target's safeguards, the load profile) and the
    choice to start the mock must see it too. Beneath the flags, what Locust's own settings set (see
    ``locust_settings``) fills the options left to the scenario. The command line itself is left as it is."""
    flags = given_to_locust(opts.locust_args, settings=False)
    given = given_to_locust(opts.locust_args)
    changes: dict[str, Any] = {}
    for dest, name in _OVERRIDES:
        value, current = flags.get(dest), getattr(opts, name)
        # The harness always passes --host (its mock's, unless one is given), so Locust never uses a setting's.
        if value is None and (current is None or current is False) and dest != "host":
            value = given.get(dest)
        if value is not None:
            changes[name] = f"{value}s" if name == "run_time" else Path(value) if name == "report_dir" else value
    # --endpoint after -- asks for what `loadsim run --endpoint E` runs: the journeys' locustfile ignores it.
    if opts.locustfile == "tracking" and opts.web_port is None and _sets_endpoint(opts.locust_args):
        changes["locustfile"] = "endpoint"
    return dataclasses.replace(opts, **changes) if changes else opts


def _sets_endpoint(args: Sequence[str]) -> bool:
    """Whether ``args`` give ``--endpoint`` (``_endpoint_flag``), or Locust's settings do (``endpoint =
    identify`` in ``locust.conf``: the run says it applies)."""
    return _endpoint_flag(args) or _in_settings(args, "endpoint")


def _endpoint_flag(args: Sequence[str]) -> bool:
    """Whether ``args`` give ``--endpoint``, in any spelling Locust's parser takes (``--endp``), its default too."""
    # Locust's default, events, given or not reads the same: put another value first, which a flag in args overrides.
    return any(
        _parse_locust([f"--endpoint={other}", *args], settings=False)[0].endpoint != other
        for other in ("identify", "externalIds")
    )


def _endpoint_asked(args: Sequence[str]) -> str:
    return str(given_to_locust(args).get("endpoint") or "events")


def _asking(args: Sequence[str], endpoint: str) -> str:
    """Where ``endpoint`` was asked for, as a message names it: the flag, or Locust's settings."""
    return f"--endpoint {endpoint}" if _endpoint_flag(args) else f"endpoint = {endpoint} in Locust's settings"


def _in_settings(args: Sequence[str], dest: str) -> bool:
    """Whether Locust's settings beneath ``args`` (its config files, ``LOCUST_*``) set ``dest``."""
    return any(
        getattr(action, "dest", None) == dest
        for source, found in _parse_locust(args)[1].items()
        if source.startswith("config_file|") or source == "environment_variables"
        for action, _ in found.values()
    )


def check_endpoint_slos(scenario: Any, opts: RunOptions) -> None:
    """``--endpoint E`` (the endpoint locustfile) sends E's requests alone: an SLO on another endpoint,
    or on a step of one, would have none to judge, and fail every run (as ``validate`` refuses an SLO
    on a step the journey never sends)."""
    if opts.locustfile != "endpoint":
        return
    endpoint = _endpoint_asked(opts.locust_args)
    asked = _asking(opts.locust_args, endpoint)
    slo = scenario.slo
    for kind, entries in (("latency", slo.latency), ("error_rate", slo.error_rate)):
        for i, e in enumerate(entries):
            judged = e.endpoint if e.step is None else step_endpoint(e.step)
            if judged not in ("total", endpoint):
                what = f"{e.metric} p{e.percentile:g}" if kind == "latency" else "error rate"
                raise HarnessError(
                    f"{asked} sends {endpoint} requests alone: slo.{kind}[{i}] ({what} of "
                    f"{e.step or e.endpoint}) in {scenario.path or scenario.name} would have none to judge, and fail "
                    f"every run; run the journeys (no --endpoint), or a scenario whose SLOs are on {endpoint} or "
                    f'total (extends = "{scenario.name}" with an [slo] of its own)'
                )


def check_profile(scenario: Any, opts: RunOptions, *, mock: bool = True) -> LoadProfile | None:
    """The load profile the scenario and the flags make, checked before anything starts (the same
    ``LoadProfile`` Locust's process will build): a run time too short for the stages, an open model
    without a rate; with ``mock`` (the run starts one, which plays ``[target.mock]``), the mock's timed
    faults as the profile stretches them. None for a replay or the web UI, whose run time is not known here."""
    if opts.locustfile == "replay" or opts.web_port is not None:
        return None
    from simulator.loadtest.shape import LoadProfile

    load = scenario.load
    if opts.load_model:
        load = dataclasses.replace(load, model=opts.load_model)
    try:
        profile = LoadProfile.of(
            load,
            users=opts.users,
            rate=opts.rate,
            run_time=parse_duration(opts.run_time) if opts.run_time is not None else None,
        )
    except ValueError as exc:
        raise HarnessError(str(exc)) from None
    if load.model == "open" and all(rate is None for *_, rate in profile.stages):
        raise HarnessError(
            f"the open model needs a target rate: {scenario.name} sets no load.rate (nor stage rates); pass --rate R"
        )
    if not mock:  # no mock plays them
        return profile
    # An outage after the end is the scenario's own error (scenario.rules): the stretch keeps it inside.
    outage = _Outage.of(scenario.target.mock, "", stretch=profile.stretch)
    if outage is not None and outage.length > MAX_REFUSE_S:
        raise HarnessError(
            f"--run-time {opts.run_time} stretches {scenario.name}'s outage (target.mock.outage_for) to "
            f"{outage.length:g} s, past the {MAX_REFUSE_S:g} s the mock plays one: give a shorter --run-time"
        )
    # The freeze as the mock will read its flags: past its limits it would refuse to start, mid-run.
    freeze = _freeze(scenario.target.mock, stretch=profile.stretch)
    if freeze is not None:
        try:
            FaultConfig(freeze_at=freeze[0], freeze_for=freeze[1])
        except FaultError as exc:
            given = scenario.target.mock
            raise HarnessError(
                f"--run-time {opts.run_time} stretches {scenario.name}'s freeze (target.mock.freeze_at "
                f"{given['freeze_at']}, target.mock.freeze_for {given['freeze_for']}) x{profile.stretch:g} to "
                f"{freeze[0]:g} s for {freeze[1]:g} s, past the mock's limits ({exc}): give a shorter --run-time"
            ) from None
    return profile


def _unplayed(options: Mapping[str, Any]) -> str | None:
    """What a run that starts no mock says of the scenario's ``[target.mock]``, which only the mock it
    starts plays (the outage through its admin API); None when the table is empty."""
    names = dict.fromkeys(k.split("_", 1)[0] if k.startswith(("outage_", "freeze_")) else k for k in options)
    if not names:
        return None
    return f"no mock is started: the scenario's [target.mock] ({', '.join(names)}) does not play"


def _load_plan(opts: RunOptions, scenario: Any, *, mock: bool) -> str:
    """What the run will send, as the flags and the scenario make it: app id, model, users, rates, run
    time; with ``mock`` (the run starts it) the mock's outage and freeze, else that they do not play."""
    from simulator.loadtest.shape import LoadProfile

    given = given_to_locust(opts.locust_args)  # harness options handed to Locust (--app-id x, or after --)

    def steps(values: list[Any]) -> str:
        return " -> ".join(k for k, _ in itertools.groupby(f"{v:g}" for v in values))  # repeats shown once

    load = scenario.load
    model = opts.load_model or load.model
    profile = LoadProfile.of(
        load, users=opts.users, rate=opts.rate, run_time=parse_duration(opts.run_time) if opts.run_time else None
    )
    parts = [f"app id {given.get('app_id') or scenario.app.app_id}", f"{model} model"]
    parts.append(f"users {steps([users for _, users, _, _ in profile.stages])}")
    rates = [rate for *_, rate in profile.stages if rate is not None]
    if model == "open" and rates:
        parts.append(f"{steps(rates)} {load.rate_unit}/s")
    think = given.get("think_scale")
    if think is not None:
        parts.append(f"think times x{think:g}")
    parts.append(
        f"run time {profile.duration:g}s" + (f" in {len(profile.stages)} stages" if len(profile.stages) > 1 else "")
    )
    unplayed = None if mock else _unplayed(scenario.target.mock)
    if unplayed is not None:
        parts.append(unplayed)
        return ", ".join(parts)
    outage = _Outage.of(scenario.target.mock, "", stretch=profile.stretch)
    if outage is not None:
        parts.append(f"outage ({outage.status}) at {outage.at:.3g}s for {outage.length:.3g}s")
    freeze = _freeze(scenario.target.mock, stretch=profile.stretch)
    if freeze is not None and freeze[1]:  # a freeze of 0 s stalls nothing
        parts.append(f"freeze at {freeze[0]:.3g}s for {freeze[1]:.3g}s")
    return ", ".join(parts)


def run(opts: RunOptions) -> int:
    """Run the test (headless, or Locust's web UI with ``web_port``); exit code 0 passed, 1 failed,
    2 harness or configuration error, 3 interrupted (SIGINT or SIGTERM)."""
    stop = _Stop(ui=opts.web_port is not None)
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _run(opts, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(opts: RunOptions, stop: _Stop) -> int:
    asked, opts = opts, with_locust_overrides(opts)
    check_run_options(opts)
    scenario = load_scenario(opts.scenario)  # ScenarioError lists every problem before anything starts
    check_start_day(scenario)  # Locust's process builds the population: a day with no device failed there
    say_warnings(scenario)
    target = opts.target or scenario.target.kind
    ui = opts.web_port is not None
    # With the web UI this folder keeps the mock's store and log for the session; reports go per test.
    report_dir = opts.report_dir or default_report_dir(f"ui-{scenario.name}" if ui else scenario.name)
    check_report_dir(report_dir, given=opts.report_dir is not None)
    mock: subprocess.Popen[str] | None = None
    host = opts.host or scenario.target.host
    check_host(target, host, given=f"--host {host}" if opts.host else f"target.host {host} (in {opts.scenario})")
    check_locust_arguments(locust_command(opts, host=host or "http://127.0.0.1:1", report_dir=report_dir)[3:])
    # Beneath the command line the harness would have passed without them: what Locust's settings changed.
    settings = locust_settings(locust_command(asked, host=host or "http://127.0.0.1:1", report_dir=report_dir)[3:])
    if settings:
        print(f"loadsim: Locust's settings apply to this run: {', '.join(settings)}", flush=True)
    setting_host = None if opts.host else given_to_locust(opts.locust_args).get("host")
    if setting_host:  # LOCUST_HOST exported for plain Locust: said, never followed to a real collector
        print(
            f"loadsim: Locust's settings give host {setting_host}: not used (the target is --host, the scenario's "
            "target, or else the mock)"
        )
    starts_mock = not host and target != "customerlabs"
    profile = check_profile(scenario, opts, mock=starts_mock)
    check_endpoint_slos(scenario, opts)
    stretch = profile.stretch if profile is not None else 1.0
    if target == "customerlabs":
        webhook = opts.webhook_url or scenario.target.resolved_webhook_url()
        check_real_target(
            confirmed=opts.confirm_real_target or scenario.target.confirm,
            rate_cap=opts.rate_cap or scenario.target.rate_cap,
            webhook_url=webhook,
        )
        host = host or CUSTOMERLABS_URL
        urls = Target.of(kind="customerlabs", host=host, webhook_url=webhook).describe()
        print(
            "loadsim: REAL TARGET, CustomerLabs. Plan:\n"
            f"  externalIds -> {host}{urls['externalIds']}\n  identify    -> {host}{urls['identify']}\n"
            f"  events      -> {urls['events']}\n"
            f"  at most {opts.rate_cap or scenario.target.rate_cap:g} requests/s, "
            f"{_load_plan(opts, scenario, mock=False)}",
            flush=True,
        )
    elif opts.dry_run:
        plan = _load_plan(opts, scenario, mock=starts_mock)
        print(f"loadsim: plan: target mock at {host or 'a free loopback port'}, {plan}")
    elif not starts_mock and _unplayed(scenario.target.mock):  # a run against --host: said before it starts
        print(f"loadsim: {_unplayed(scenario.target.mock)}", flush=True)
    if opts.dry_run:
        print(
            "loadsim: dry run; would run:\n  "
            + " ".join(locust_command(opts, host=host or "<mock>", report_dir=report_dir))
        )
        return 0
    if stop.requested():
        return not_started()
    if opts.web_port is not None:
        check_web_port(opts.web_port)
    clear_report_dir(report_dir, mock=not host)
    outage = None
    locust: subprocess.Popen[bytes] | None = None
    ready, ready_w = os.pipe()
    os.set_blocking(ready, False)
    try:
        if not host:
            mock, host = _start_mock(report_dir, mock_flags(scenario.target.mock, stretch=stretch))
            # In the web UI too, once a session: from its first request, as the mock counts its freeze.
            outage = _Outage.of(scenario.target.mock, host, stretch=stretch)
            print(f"loadsim: mock collector at {host} (store {report_dir / 'mock.sqlite3'})", flush=True)
        if ui:
            print(f"loadsim: web UI at http://127.0.0.1:{opts.web_port}/ (Ctrl-C to quit)", flush=True)
            if outage is not None:
                print(
                    f"loadsim: the scenario's outage ({outage.status}) plays once, {outage.at:g} s after the session's"
                    f" first request, for {outage.length:g} s",
                    flush=True,
                )
        if stop.requested():  # while the mock started: it is stopped below, Locust never starts
            return not_started()
        env = dict(os.environ)
        env.pop("LOCUST_SKIP_MONKEY_PATCH", None)
        if opts.webhook_url:
            env["LOADSIM_WEBHOOK_URL"] = opts.webhook_url  # not on the command line, where ps shows it
        env[READY_FD] = str(ready_w)
        # Locust gets a session of its own (and no terminal input): a terminal's Ctrl-C reaches
        # only us, and we ask the master alone to stop, so that it stops its workers and waits for
        # their last figures. Ctrl-C reaching every worker at once had them quit before the
        # master's report, which then missed their last seconds and failed reconciliation.
        locust = subprocess.Popen(
            locust_command(opts, host=host, report_dir=report_dir),
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=(ready_w,),
        )
        os.close(ready_w)
        ready_w = -1
        stop.attach(locust, ready)
        if outage is not None:
            outage.schedule()
        code = locust.wait()
    finally:
        for fd in (ready, ready_w):
            if fd >= 0:
                os.close(fd)
        if locust is not None and locust.poll() is None:  # an exception here: Locust must not outlive us
            os.killpg(locust.pid, signal.SIGKILL)
            locust.wait()
        if outage is not None:
            outage.cancel()
        died = _death(mock.poll()) if mock is not None else None  # before we stop it ourselves
        if mock is not None:
            _stop(mock)
    if died is not None:
        log = report_dir / "mock.log"
        died = f"the mock collector died during the run ({died}): what it stored cannot be read; see {log}"
        print(f"loadsim: {died}", file=sys.stderr, flush=True)
    if stop.early or code == NOT_STARTED_EXIT:  # killed before its harness took SIGINT, or it said so
        return not_started()
    summary = report_dir / "summary.json"
    written = not ui and summary.is_file()  # clear_report_dir removed an earlier run's
    if stop.killed and not written:
        print("loadsim: INTERRUPTED: stopped at once (asked twice), no report", flush=True)
        return 3
    if ui:
        return code if code in VERDICT_CODES else 2
    if died is not None and written:
        fail_reconciliation(report_dir, died)
        code = 1 if code in (0, 3) else code  # a run whose mock died is never a pass
    if written:
        print(f"loadsim: report in {report_dir}/ (report.html, summary.json, summary.md, junit.xml)", flush=True)
        md = (report_dir / "summary.md").read_text(encoding="utf-8")
        sys.stdout.write(md)
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if step_summary:
            with open(step_summary, "a", encoding="utf-8") as f:
                f.write(md)
        said = _read_summary(summary)
        for warning in said.get("warnings") or []:
            print(f"loadsim: WARNING: {warning}", flush=True)
        if "result" in said:
            # The last line of the log: what a CI job shows when it fails.
            print(f"loadsim: {said['result']}: {said.get('reason')}", flush=True)
        for problem in said.get("harness_problems") or []:  # after the verdict: why it exits 2 all the same
            print(f"loadsim: HARNESS ERROR (exit 2): {problem}", flush=True)
    else:
        code = 2  # Locust ended without the harness's report: no verdict, whatever Locust says
        print(f"loadsim: Locust ended but wrote no report in {report_dir}", file=sys.stderr)
    return code if code in VERDICT_CODES else 2


#: Exit codes that carry a verdict: 0 passed, 1 failed, 3 interrupted (stopped before its planned
#: run time with nothing failed so far: not a pass). Anything else from Locust is a harness error.
VERDICT_CODES = (0, 1, 3)


def _read_summary(path: Path) -> dict[str, Any]:
    """The run's summary.json, or {} (the files were checked written: what they say is shown, not judged)."""
    try:
        summary = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return summary if isinstance(summary, dict) else {}
