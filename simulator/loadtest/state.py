"""The harness's state in one process: a typed ``HarnessState`` on Locust's ``Environment``.

Locust's ``Environment`` declares no room for a harness, so the state rides on it as one attribute
(``loadsim``), set by ``attach_state`` and read by ``harness_state``; everything else the harness
keeps is a typed field of ``HarnessState``. The types named only under TYPE_CHECKING come from the
modules that read the state: the annotations need them, the running code does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from locust.env import Environment

from simulator.report.stats import RunStats
from simulator.scenario import Scenario

if TYPE_CHECKING:
    from simulator.loadtest.context import RunContext
    from simulator.loadtest.replay import ReplaySource
    from simulator.loadtest.shape import LoadProfile
    from simulator.loadtest.user import OpenArrivals

__all__ = ["HarnessState", "attach_state", "harness_state"]

#: The one attribute the harness sets on Locust's Environment.
_ATTRIBUTE = "loadsim"


class HarnessState:
    """What the harness keeps on a Locust ``Environment`` (one per process), typed: see ``harness_state``."""

    def __init__(self, scenario: Scenario, opts: Any) -> None:
        self.scenario = scenario
        self.opts = opts
        self.stats = RunStats()  # the master's sum of its workers' stats
        self.started = 0.0
        self.shard: tuple[int, int] | None = None
        #: On a worker: the master's load profile, sent with the shard. Locust gives a worker no
        #: --run-time (nor the web form's users and run time), so its own would be the scenario's.
        self.master_profile: LoadProfile | None = None
        self.workers = 1
        #: A report is being written (once per test) / has been written.
        self.reporting = False
        self.reported = False
        self.exhausted = False
        #: The mock's stats at test start, so reconciliation counts only this run's bodies.
        self.mock_baseline: dict[str, Any] | None = None
        #: The options the scenario was last resolved from (see resolve_options).
        self.resolution: tuple[Any, ...] = ()
        #: Users and run time given on the command line (None: the scenario's).
        self.cli_load: tuple[Any, Any] = (None, None)
        #: Where the last report was written.
        self.report_dir: Path | None = None
        #: A headless run's ``--html F``, taken from Locust at init: the harness writes F after its
        #: own files (``hooks.write_locust_html``), which a failure there must not cost.
        self.locust_html: str | None = None
        #: The SLO that stopped the run early (slo.abort_on_fail), if one did.
        self.aborted: str | None = None
        #: When the test began to stop (0 until it does): the end of the arrival window.
        self.stopped_at = 0.0
        #: The process was told to quit (a signal) while the test was still running.
        self.interrupted = False
        #: On a master: the workers of this test, and those whose last figures have arrived.
        self.worker_ids: set[str] = set()
        self.finals: set[str] = set()
        #: Those that sent no last figures before the report (killed mid-test), by id.
        self.lost_workers: list[str] = []
        #: The load the shape plays: the scenario's stages, or the command line's or start form's load.
        self.profile: LoadProfile | None = None
        #: This process's population, journeys, target and stats, once its test (or shard) starts.
        self.context: RunContext | None = None
        #: The open model's arrival scheduler (None: the closed model, or before the test starts).
        self.arrivals: OpenArrivals | None = None
        #: ``loadsim replay``'s dataset reader, once the test starts.
        self.replay: ReplaySource | None = None
        #: Users and run time the command line gave, kept across the web UI's tests (None: no form yet).
        self.cli_load_first: tuple[Any, Any] | None = None


def attach_state(environment: Environment, state: HarnessState) -> None:
    """Give ``environment`` its harness state (at ``init``, once per process)."""
    setattr(environment, _ATTRIBUTE, state)


def harness_state(environment: Environment | None) -> HarnessState | None:
    """The harness state of ``environment``; None when the harness is not set up in it (Locust run
    as a library, without our arguments)."""
    state = getattr(environment, _ATTRIBUTE, None)
    return state if isinstance(state, HarnessState) else None
