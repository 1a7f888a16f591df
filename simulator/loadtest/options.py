"""The harness's own Locust arguments: on the command line, in locust.conf, in the web UI's start form.

Every one defaults to ``None`` meaning "as the scenario says", so a scenario file is the whole
test and a flag overrides one thing.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from simulator.contract import ENDPOINT_NAMES, FORMATS
from simulator.scenario import MAX_RATE, bundled_scenarios, check_seed

__all__ = ["LOAD_MODELS", "TARGETS", "ScenarioChoices", "add_arguments", "app_id", "seed", "speed", "think_scale"]

#: ``--target``'s choices; the web UI's form checks its field against them too.
TARGETS = ("mock", "customerlabs")
#: ``--load-model``'s choices, likewise.
LOAD_MODELS = ("closed", "open")


def seed(text: str) -> int:
    """``--seed`` as a scenario's seed may be: a negative one would fail in numpy in every user, mid-run."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    try:
        check_seed(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def think_scale(text: str) -> float:
    """``--think-scale`` as a scenario's ``think_time_scale`` may be (a negative wait is no wait)."""
    value = _number(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a value of at least 0, got {text}")
    return value


def rate(text: str) -> float:
    """``--rate`` as the open model's scheduler can keep it (a scenario's load.rate is held the same)."""
    value = _number(text)
    if not 0 < value <= MAX_RATE:  # nan too
        raise argparse.ArgumentTypeError(
            f"expected a number above 0 and at most {MAX_RATE:,.0f} arrivals/s, got {text}"
        )
    return value


def rate_cap(text: str) -> float:
    """``--rate-cap``: the most requests per second against a real target; inf would be no cap at all."""
    value = _number(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {text}")
    return value


def app_id(text: str) -> str:
    """``--app-id`` as the API takes a request's ``id``: it routes the request to an account (and a
    uid is the app id + UUIDv4). An empty one, an unset "$APP_ID", must not mean the scenario's."""
    app = FORMATS["app_id"]
    if not app.compiled().match(text):
        raise argparse.ArgumentTypeError(f"expected {app.expected}, got {text!r}")
    return text


def speed(text: str) -> float:
    """Replay's ``--speed``: 0 sends as fast as the target answers, else simulated seconds per real
    second. nan and inf are no speed (both were taken as 0); a negative one runs time backwards."""
    value = _number(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(
            "expected 0 (as fast as the target answers) or simulated seconds per real second, "
            f"such as 60 (an hour a minute), got {text}"
        )
    return value


class ScenarioChoices(list[str]):
    """Bundled scenario names for the web UI's dropdown that also admit a path to any scenario file.

    argparse checks ``value in choices``; Locust's web UI lists the choices. A list subclass does both.
    """

    def __contains__(self, value: object) -> bool:
        return super().__contains__(value) or (isinstance(value, str) and Path(value).is_file())


def add_arguments(parser: Any) -> None:
    """Register the arguments on Locust's parser (``init_command_line_parser``)."""
    # On the parser itself, not a group: only Locust's parser takes include_in_web_ui and is_secret.
    group = parser
    names = ScenarioChoices(name for name, _ in bundled_scenarios())
    group.add_argument(
        "--scenario",
        default="smoke",
        choices=names,
        metavar="SCENARIO",
        help="bundled scenario name or path to a scenario TOML file (default smoke)",
    )
    # "" first: the web UI's dropdown submits its first choice, which must mean "as the scenario says".
    group.add_argument(
        "--target",
        default=None,
        choices=["", *TARGETS],
        help="mock (the bundled collector at --host) or customerlabs (the real API; needs "
        "--webhook-url, --confirm-real-target and --rate-cap). Default: the scenario's",
    )
    group.add_argument(
        "--webhook-url",
        default=None,
        is_secret=True,
        env_var="LOADSIM_WEBHOOK_URL",
        help="events webhook URL of your CustomerLabs source (its secret is never printed; "
        "or set LOADSIM_WEBHOOK_URL, which keeps it out of the process list)",
    )
    group.add_argument("--app-id", type=app_id, default=None, help="CustomerLabs app id (default: the scenario's)")
    group.add_argument("--seed", type=seed, default=None, help="random seed, 0 to 2147483647 (default: the scenario's)")
    group.add_argument(
        "--load-model",
        default=None,
        choices=["", *LOAD_MODELS],
        help="closed: users with think times; open: a target arrival rate (default: the scenario's)",
    )
    group.add_argument(
        "--rate",
        type=rate,
        default=None,
        help="open model: target sessions/s (or requests/s, as the scenario's rate_unit says)",
    )
    group.add_argument(
        "--think-scale",
        type=think_scale,
        default=None,
        help="multiply think times by this, 0 or more (0 = no think time; default: the scenario's)",
    )
    group.add_argument(
        "--rate-cap", type=rate_cap, default=None, help="refuse to exceed this many requests/s against a real target"
    )
    group.add_argument(
        "--confirm-real-target",
        action="store_true",
        default=False,
        include_in_web_ui=False,
        help="required with --target customerlabs: you mean to send to the real API",
    )
    group.add_argument(
        "--endpoint",
        default="events",
        choices=list(ENDPOINT_NAMES),
        help="the endpoint locustfile (loadsim locustfile endpoint): the endpoint to load (default events)",
    )
    group.add_argument("--report-dir", default=None, help="write the harness's report here (default reports/<run id>)")
    group.add_argument(
        "--mock-admin",
        default=None,
        include_in_web_ui=False,
        help="URL of the mock's admin API for reconciliation (default: --host when the target is the mock); "
        "none: the target is a collector of your own, nothing is reconciled",
    )
