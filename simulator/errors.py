"""Errors a user can fix: the CLI prints them without a traceback and exits 2."""

from __future__ import annotations

from dataclasses import dataclass

# The scenario's errors live here, not in simulator.scenario, so the CLI can catch them without
# importing the scenario model (numpy, the catalogue): `loadsim --help` or `contract` never need it.
__all__ = ["NOT_STARTED", "HarnessError", "ScenarioError", "ScenarioProblem"]

#: What a run, a replay or the web UI says when a stop (Ctrl-C, SIGTERM) came before its test began.
NOT_STARTED = "loadsim: INTERRUPTED before the test started: nothing was sent, no report"


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
