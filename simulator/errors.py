"""Errors a user can fix: the CLI prints them without a traceback and exits 2."""

from __future__ import annotations

from dataclasses import dataclass

# The scenario's errors live here, not in simulator.scenario, so the CLI can catch them without
# importing the scenario model (numpy, the catalogue): `loadsim --help` or `contract` never need it.
__all__ = [
    "NOT_STARTED",
    "NOT_STARTED_EXIT",
    "QUITTING_IDLE",
    "STOPPING",
    "HarnessError",
    "ScenarioError",
    "ScenarioProblem",
    "not_started",
]

#: What a run, a replay or the web UI says when a stop (Ctrl-C, SIGTERM) came before its test began.
NOT_STARTED = "loadsim: INTERRUPTED before the test started: nothing was sent, no report"
#: The exit code a Locust process started by loadsim ends with when stopped before its test began
#: (the hooks say so; a plain ``locust`` exits 3): loadsim says NOT_STARTED and exits 3.
NOT_STARTED_EXIT = 4
#: What a stop (Ctrl-C, SIGTERM) says once a test is under way; a second one kills it.
STOPPING = "loadsim: stopping; writing the report of what was sent (again to kill)..."
#: ... and what it says to a web UI with no test running: none started, or the last one reported.
QUITTING_IDLE = "loadsim: quitting the web UI: no test running, nothing to report"


def not_started() -> int:
    """Say NOT_STARTED (on a line of its own, past the ^C a terminal echoes); the exit code, 3."""
    print(f"\n{NOT_STARTED}", flush=True)
    return 3


class HarnessError(Exception):
    """The harness could not run what was asked (a locustfile missing, the mock did not start...)."""


@dataclass(frozen=True, slots=True)
class ScenarioProblem:
    """One thing wrong with a scenario: which file, which field (``journey.transitions[2].p``), what."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}" if self.path else f"{self.file}: {self.message}"


class ScenarioError(Exception):
    """Every problem found in one or more scenario files (``problems``), one per line in ``str()``."""

    def __init__(self, problems: list[ScenarioProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(map(str, self.problems)))
