"""Replay a generated dataset (``loadsim generate``) against a target, through the harness's users and report.

A reader greenlet streams the dataset in ``added_at`` order and deals each request to a lane by
device (``device % lanes``); each ``ReplayUser`` owns one lane, so a device's requests are sent
one after another, in order, while devices run side by side. ``--speed X`` plays X simulated
seconds per real second (a request is due at its scaled time and timed from then, so a slow target
shows in the latency); ``--speed 0`` sends as fast as the target answers. ``--restamp`` moves
``added_at`` to the send time; otherwise the bodies go exactly as written.

A replay is judged on the dataset as well: "sent N of M" is a verdict row (``dataset replayed in
full``) unless ``--run-time`` or a signal cut the replay short, which is then named beside the
verdict; a damaged line found mid-run ends the reading, fails the run with the line named and
makes the exit code 2 (the dataset is at fault, not the target), the report covering what was sent.
A request the stop cuts off in flight counts as sent (the mock may have stored it) and as cut off.

Sending, judging (a 400 to a faulty-SDK body is an expected rejection), stats, reconciliation
against the mock and the report at the end are the harness's own (``simulator.loadtest.hooks``
and ``TrackingUser``), as in ``loadsim run``. When the dataset is played out, the run quits.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from gevent import GreenletExit
from gevent.queue import Queue
from locust import events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from simulator import payloads
from simulator.dataset import DatasetError, DatasetRecord, read_dataset, read_summary, time_span
from simulator.loadtest import hooks as _hooks  # the harness's listeners first: ours run after theirs
from simulator.loadtest import options
from simulator.loadtest.context import RunContext
from simulator.loadtest.shape import LoadProfile
from simulator.loadtest.state import harness_state
from simulator.loadtest.user import TrackingUser
from simulator.report.format import duration
from simulator.report.slo import Verdict
from simulator.report.summary import reach
from simulator.scenario import JourneyConfig, ScenarioError, load_scenario

__all__ = ["LONGEST_REPLAY_S", "ONE_PROCESS", "ReplayOutcome", "ReplaySource", "ReplayUser", "check_speed"]

log = logging.getLogger("loadsim")
del _hooks

#: Requests waiting per lane: the reader blocks beyond it, so memory stays flat for any dataset.
LANE_DEPTH = 256
#: With --speed, the reader runs at most this far (real seconds) ahead of the clock.
READ_AHEAD = 1.0

Item = tuple[float | None, DatasetRecord] | None

#: A replay in several processes hung: each worker made a lane per user of the whole run but got only
#: its share of the users, and no master learnt when the dataset was played out. Refused instead.
ONE_PROCESS = (
    "a replay runs in one process: --processes, --master and --worker are not supported "
    "(each device's requests go in order from one sender); raise --users for more concurrent senders"
)


#: The longest a replay may take at its --speed. A speed is simulated seconds per real second: one that
#: would take longer is a slip (0.001 for 1000), whose waits run to years, or to forever where the
#: stretch overflows (a day at --speed 1e-320 is 8.6e324 s: inf). Real time (--speed 1) fits any dataset
#: of up to a year.
LONGEST_REPLAY_S = 365 * 86400.0


def check_speed(speed: float, directory: Path) -> None:
    """ValueError naming --speed, its value and the bound when playing the dataset in ``directory`` at
    ``speed`` would take longer than ``LONGEST_REPLAY_S``; the bound is the slowest speed that does not,
    rounded up to 3 digits, as the message gives it. 0 sends without pacing: any dataset passes."""
    if speed == 0:
        return
    span = time_span(directory)  # a pass over the table: cheap next to a paced replay, which lasts span / speed
    if span == 0:
        return
    least = span / LONGEST_REPLAY_S
    scale = 10.0 ** (2 - math.floor(math.log10(least)))
    slowest = math.ceil(least * scale) / scale
    if speed < slowest:
        raise ValueError(
            f"--speed {speed!r}: the dataset {directory} spans {duration(span)} of requests, which would take "
            f"more than {LONGEST_REPLAY_S / 86400:g} days to play at that speed; give --speed {slowest:g} or more "
            "(or 0, as fast as the target answers)"
        )


@dataclass(slots=True)
class OpenSession:
    """A device's session under way on a lane: its number (the table's, as the dataset's funnel counts
    sessions) and the funnel stages it reached."""

    number: int
    #: Dataset time of its last request, so a session long silent can be forgotten.
    last: float
    reached: set[str] = field(default_factory=set)
    #: A request of it was sent: the first of a device's first session starts the device.
    sent: bool = False


def session_horizon(journey: JourneyConfig) -> float:
    """Dataset seconds after its last request beyond which a session sends nothing more.

    A pause longer than the session timeout opens a new session, so a session's next request comes
    within the timeout of its last, unless states that send nothing (``action = "none"``) lie between
    them: then only the session's length bounds it (at most ``max_steps`` pauses). One second more:
    ``added_at`` is whole seconds."""
    if any(state.action == "none" for state in journey.states.values()):
        return journey.session_timeout * journey.max_steps + 1.0
    return journey.session_timeout + 1.0


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """How much of the dataset a replay sent, and why it ended: the report's ``replay`` section."""

    #: The dataset's requests (summary.json) and those the users sent: answered (whatever the answer),
    #: or cut off by the stop before their outcome was known.
    dataset_requests: int
    sent: int
    #: Of ``sent``, those cut off (in flight, or between retries): the target may have stored them.
    cut_off: int
    #: Every lane played out: the reader reached the end of the dataset, or stopped at a problem.
    played_out: bool
    #: What stopped the reader before the end (a damaged line, named), if anything did.
    problem: str | None
    #: Said beside the verdict when --run-time or a signal ended the replay before the dataset did.
    note: str | None
    #: "dataset replayed in full": absent when the replay was cut short on purpose (the note says so).
    verdict: Verdict | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset_requests": self.dataset_requests,
            "sent": self.sent,
            "cut_off": self.cut_off,
            "played_out": self.played_out,
            "problem": self.problem,
            "note": self.note,
        }


class ReplaySource:
    """Deals a dataset's requests to lanes, by device, in order; paced by ``speed`` (0: no pacing)."""

    def __init__(
        self,
        *,
        ctx: RunContext,
        directory: Path,
        lanes: int,
        total: int,
        speed: float = 0.0,
        restamp: bool = False,
        run_time: float | None = None,
    ) -> None:
        self.ctx = ctx
        self.directory = directory
        #: The dataset's requests, as its summary.json counts them: what a full replay sends.
        self.total = total
        #: --run-time (seconds), if given: a replay it ends early was cut short on purpose.
        self.run_time = run_time
        self.lanes = max(1, lanes)
        self.speed = speed
        self.restamp = restamp
        self.queues: list[Queue[Item]] = [Queue(maxsize=LANE_DEPTH) for _ in range(self.lanes)]
        #: Per lane, device -> its session under way, oldest last request first. A lane carries many
        #: devices' sessions interleaved in time order, so each is followed by device, not by the
        #: lane's last sid. Bounded: a device's next session replaces its last, and a session silent
        #: for ``horizon`` of dataset time is dropped (it can send nothing more), so a lane holds only
        #: the devices that sent within the last session timeout, however long the dataset.
        self.sessions: list[OrderedDict[int, OpenSession]] = [OrderedDict() for _ in range(self.lanes)]
        self.horizon = session_horizon(ctx.scenario.journey)
        self.read = 0
        #: Requests the users sent (whatever the answer, or none yet): the "N" of "sent N of M".
        self.sent = 0
        #: Of those, the ones the stop cut off before their outcome was known: counted as sent, since
        #: the target may have stored them (reconciliation counts what the mock stored).
        self.cut_off = 0
        self.done = False
        #: The reader got to the end of the dataset (not stopped, not failed).
        self.read_all = False
        self.played_out = False
        #: Why the reader stopped before the end of the dataset (None: it did not).
        self.problem: str | None = None
        self.finished_lanes = 0
        self._claimed = 0
        self.greenlet: gevent.Greenlet[Any, Any] | None = None

    def outcome(self, *, interrupted: bool, elapsed: float) -> ReplayOutcome:
        """What the report says of the dataset. A replay that ended short by itself (its reader
        stopped, users died, anything but --run-time or a signal) fails "dataset replayed in full". In
        full is every request answered: one cut off at the stop was sent, but its outcome is unknown."""
        sent, total, cut_off = self.sent, self.total, self.cut_off
        answered = sent - cut_off
        note: str | None = None
        row: Verdict | None = Verdict(
            f"dataset replayed in full ({total} requests)", total, answered, answered >= total, "requests"
        )
        if answered < total and not self.played_out and self.problem is None:
            of = f"after {sent} of the dataset's {total} requests" + (
                f", {cut_off} of them cut off at the stop" if cut_off else ""
            )
            if interrupted:  # INTERRUPTED already: a failed row would turn it into FAILED
                note, row = f"the replay was interrupted {of}", None
            elif self.run_time is not None and elapsed >= self.run_time - 1.0:
                note, row = f"--run-time ended the replay {of}", None
        return ReplayOutcome(total, sent, cut_off, self.played_out, self.problem, note, row)

    def claim(self) -> int:
        """The lane of a starting user (one user per lane; extra users share lanes in turn)."""
        lane = self._claimed % self.lanes
        self._claimed += 1
        return lane

    def start(self) -> None:
        self.greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self.greenlet is not None:
            self.greenlet.kill(block=False)

    def _run(self) -> None:
        ctx = self.ctx
        ctx.wait_ready()
        index, count = ctx.shard_index, ctx.shard_count
        keep = (lambda d: d % count == index) if count > 1 else None
        first_sim: float | None = None
        first_real = 0.0
        try:
            for rec in read_dataset(self.directory, devices=keep):
                due: float | None = None
                if self.speed > 0:
                    if first_sim is None:
                        first_sim, first_real = rec.time, time.time() + 0.2
                    due = first_real + (rec.time - first_sim) / self.speed
                    ahead = due - READ_AHEAD - time.time()
                    if ahead > 0:
                        gevent.sleep(ahead)
                self.queues[rec.device % self.lanes].put((due, rec))
                self.read += 1
            self.read_all = True
        except DatasetError as e:
            self.problem = str(e)
            log.error("loadsim replay: %s", e)
        except Exception as e:  # any other failure to read must not look like a dataset played out
            self.problem = f"the dataset reader failed after {self.read} requests: {e!r}"
            log.exception("loadsim replay: the dataset reader failed")
        finally:
            self.done = True
            for q in self.queues:
                q.put(None)


class ReplayUser(TrackingUser):
    """Sends one lane of a dataset: its devices' requests in order, each at its due time."""

    lane = 0

    def on_start(self) -> None:
        super().on_start()
        harness = harness_state(self.environment)
        source = harness.replay if harness is not None else None
        if source is None:
            log.error("loadsim replay: no dataset; pass --dataset DIR (a directory from loadsim generate)")
            raise StopUser()
        self.source = source
        self.lane = source.claim()

    def _session(self, rec: DatasetRecord) -> OpenSession:
        """The session ``rec`` belongs to (by its device and the table's session number, so a faulty
        body without a sid is still its session's), the lane's long-silent sessions forgotten."""
        sessions = self.source.sessions[self.lane]
        session = sessions.pop(rec.device, None)
        if session is None or session.number != rec.request.session:  # the device's next session began
            session = OpenSession(rec.request.session, rec.time)
        session.last = rec.time
        sessions[rec.device] = session  # at the end: the map stays in order of last request
        oldest = rec.time - self.source.horizon
        while next(iter(sessions.values())).last < oldest:  # never the one just put back
            sessions.popitem(last=False)
        return session

    def _sent(self, session: OpenSession) -> None:
        """A request of ``session`` was sent. Its device starts with its first (the dataset's first
        session of a device is number 0): a device counts once, whatever the lane keeps of it."""
        self.source.sent += 1
        if not session.sent:
            session.sent = True
            if session.number == 0:
                self.ctx.stats.count("devices")

    @task
    def play(self) -> None:
        source = self.source
        item = source.queues[self.lane].get()
        if item is None:
            source.queues[self.lane].put(None)  # for another user sharing the lane
            source.finished_lanes += 1
            raise StopUser()
        due, rec = item
        if due is not None:
            delay = due - time.time()
            if delay > 0:
                gevent.sleep(delay)
        began = time.time()
        req = rec.request
        if source.restamp:
            req.stamp(began)
            data = payloads.dumps(req.body)
        else:
            data = rec.data
        session = self._session(rec)
        attempts = self.attempts
        try:
            result = self.deliver(req, data, due, began)
        except GreenletExit:  # the stop killed this user: sent if an attempt left, and the mock may store it
            if self.attempts > attempts:
                self._sent(session)
                source.cut_off += 1
            raise
        self._sent(session)
        if result is not None and result.outcome == "ok" and req.step in self.ctx.stage_of:
            # Counted as reached, not when the session ends: a session forgotten or cut off by the stop
            # keeps its stages, and none is counted twice.
            reached = session.reached
            before = len(reached)
            reach(reached, self.ctx.stage_of[req.step])
            if len(reached) > before:
                self.ctx.stats.count(self.ctx.stage_of[req.step])


# --- Locust listeners: our arguments, the dataset's scenario, the source ----------------------------


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--dataset", default=None, metavar="DIR", help="replay: a dataset directory written by loadsim generate"
    )
    parser.add_argument(
        "--speed",
        type=options.speed,
        default=0.0,
        help="replay: simulated seconds per real second (60 plays an hour a minute); "
        "0 (default) sends as fast as the target answers",
    )
    parser.add_argument(
        "--restamp",
        action="store_true",
        default=False,
        help="replay: move added_at to the send time (default: send the bodies as written)",
    )
    parser.add_argument(
        "--dataset-scenario",
        default=None,
        metavar="FILE",
        help="replay: the scenario the dataset was generated with, where it is now (default: the one its "
        "summary.json names)",
    )


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    state = harness_state(environment)
    if opts is None or state is None or not getattr(opts, "dataset", None):
        return
    if opts.processes or opts.master or opts.worker:  # locust -f replay.py --processes 2 would hang
        if not (opts.worker and opts.processes):  # said once, by the parent, not by each forked worker
            sys.stderr.write(f"loadsim: {ONE_PROCESS}\n")
        raise SystemExit(2)
    try:
        summary = read_summary(opts.dataset)
        ref = getattr(opts, "dataset_scenario", None) or summary["dataset"]["scenario_ref"]
        scenario = load_scenario(ref)
    except DatasetError as e:
        sys.stderr.write(f"loadsim: {e}\n")
        raise SystemExit(2) from None
    except ScenarioError as e:
        sys.stderr.write(f"loadsim: the dataset's scenario ({ref}) cannot be read:\n{e}\n")
        raise SystemExit(2) from None
    try:  # loadsim replay checked it before the mock started; locust -f replay.py did not
        check_speed(opts.speed, Path(opts.dataset))
    except (ValueError, DatasetError) as e:
        sys.stderr.write(f"loadsim: {e}\n")
        raise SystemExit(2) from None
    # The bodies are the dataset's: the scenario names the report, its SLOs and client settings.
    # A replay is always the closed model (users are lanes, the dataset sets the pace).
    load = dataclasses.replace(scenario.load, model="closed")
    # Named as what it is, so every report's title says so: "replay of shop (ecommerce)".
    name = f"replay of {Path(opts.dataset).resolve().name} ({scenario.name})"
    state.scenario = dataclasses.replace(scenario, name=name, seed=summary["dataset"]["seed"], load=load)
    state.profile = LoadProfile.of(
        load, users=getattr(opts, "num_users", None) or None, run_time=getattr(opts, "run_time", None) or None
    )


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    state = harness_state(environment)
    ctx = state.context if state is not None else None
    if (
        state is None
        or opts is None
        or not getattr(opts, "dataset", None)
        or ctx is None
        or isinstance(environment.runner, MasterRunner)
    ):
        return
    ctx.queue_limit = 0  # a replay sends what the dataset holds: no offline queues, every send recorded
    lanes = max(1, int(getattr(opts, "num_users", 1) or 1))
    source = ReplaySource(
        ctx=ctx,
        directory=Path(opts.dataset),
        lanes=lanes,
        total=int(read_summary(opts.dataset)["requests"]["total"]),
        speed=opts.speed,
        restamp=opts.restamp,
        run_time=getattr(opts, "run_time", None) or None,
    )
    state.replay = source
    source.start()
    if not isinstance(environment.runner, WorkerRunner):
        gevent.spawn(_quit_when_played, environment, source)


def _quit_when_played(environment: Environment, source: ReplaySource) -> None:
    """Once every lane has played out, end the run: the harness writes its report on quitting."""

    def stopping() -> bool:
        runner = environment.runner
        return runner is None or runner.state in ("stopping", "stopped", "quitting")

    while not (source.done and source.finished_lanes >= source.lanes):
        gevent.sleep(0.2)
        if stopping():
            return
    if source.problem is None and (stopping() or not source.read_all):
        return  # the lanes ended because the run is stopping (--run-time, a signal): not played out
    source.played_out = True
    if source.problem is None:
        log.info("loadsim replay: the dataset is played out (%d requests); stopping", source.read)
    else:
        log.error("loadsim replay: stopping after %d of %d requests: %s", source.sent, source.total, source.problem)
    gevent.sleep(0.1)
    if environment.runner is not None:
        environment.runner.quit()


@events.test_stopping.add_listener
def _on_test_stopping(environment: Environment, **_: Any) -> None:
    state = harness_state(environment)
    source = state.replay if state is not None else None
    if source is not None:
        source.stop()
