"""One load-generating process's run: the scenario, its shard of devices, the target, the stats.

Locust creates users; they all draw their work from the one ``RunContext`` of their process.
A device is played by one user at a time: the dispenser hands out a device's sessions in order
and takes the device back between sessions, so its state (user id, identity, cart) lasts for
its whole life while other devices run in between. The gap between two sessions of a device is
not waited in real time: the load test compresses it (a dataset keeps it).
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import gevent
from gevent.event import Event

from simulator import payloads
from simulator.contract import ENDPOINT_PATHS
from simulator.errors import HarnessError
from simulator.journey import JourneyEngine, Request
from simulator.population import Population
from simulator.report.stats import RunStats
from simulator.report.summary import funnel_steps
from simulator.scenario import Scenario

__all__ = [
    "CUSTOMERLABS_URL",
    "RunContext",
    "Target",
    "check_host",
    "check_real_target",
    "is_customerlabs",
    "redact_url",
]

log = logging.getLogger("loadsim")

#: The real collector; used only when a user asks for ``--target customerlabs``.
CUSTOMERLABS_URL = "https://io.v2.customerlabs.co"


#: A path segment that looks like a token wherever it stands.
_TOKEN = re.compile(r"(?=.*\d).{8,}")


def redact_url(url: str) -> str:
    """A webhook URL with its secret parts (userinfo, path tokens, query) masked, for logs and reports.

    Every path segment may be the token, whatever it looks like (``/hook/secret`` has no digit), but
    a first one followed by others that is no token itself (``/webhook/…``, not 8 or more characters
    with a digit): each shows its first two characters at most.
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:  # https://user:password@host/...
        netloc = "…@" + netloc.rsplit("@", 1)[1]
    segments = parts.path.split("/")
    first = next((k for k, seg in enumerate(segments) if seg), len(segments))

    def shown(k: int, seg: str) -> str:
        if not seg or (k == first and any(segments[k + 1 :]) and not _TOKEN.fullmatch(seg)):
            return seg
        return (seg[:2] if len(seg) >= 6 else "") + "…"

    path = "/".join(shown(k, seg) for k, seg in enumerate(segments))
    return f"{parts.scheme}://{netloc}{path}" + ("?…" if parts.query else "")


def is_customerlabs(host: str) -> bool:
    """Whether a base URL is CustomerLabs' (its host names it), the real target's; any other is a mock's."""
    return "customerlabs" in (urlsplit(host).hostname or "")


def check_host(kind: str, host: str, *, given: str) -> None:
    """A test's requests all go to one collector, with the safeguards of its kind: the real target's
    host is CustomerLabs' (its events to the source's webhook), the mock's is not (the mock target has
    no confirmation and no rate cap). ``given`` names where ``host`` came from (``--host URL``)."""
    if not host:
        return
    if kind == "customerlabs" and not is_customerlabs(host):
        raise HarnessError(
            f"--target customerlabs sends to CustomerLabs; {given} is not CustomerLabs' (a mock's?): its "
            "externalIds and identify would go there and its events to the real webhook: drop it, or use --target mock"
        )
    if kind != "customerlabs" and is_customerlabs(host):
        raise HarnessError(
            f"{given} is CustomerLabs': the mock target would send it real traffic, unconfirmed and uncapped; "
            "for real traffic: --target customerlabs --confirm-real-target --rate-cap R --webhook-url URL, "
            "else give a mock's base URL"
        )


def check_real_target(*, confirmed: bool, rate_cap: float | None, webhook_url: str) -> None:
    """Real traffic only when asked for in so many words: a confirmation, a rate cap and a webhook URL."""
    problems = []
    if not confirmed:
        problems.append(
            "add --confirm-real-target (or target.confirm = true in the scenario): this sends real "
            "traffic to CustomerLabs"
        )
    if rate_cap is None:
        problems.append("add --rate-cap R (or target.rate_cap): the most requests/s you allow against the real API")
    if not webhook_url:
        problems.append(
            "add --webhook-url URL (or target.webhook_url / target.webhook_url_env): the events "
            "webhook of your CustomerLabs source"
        )
    if problems:
        raise HarnessError("--target customerlabs: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class Target:
    """Where each endpoint's requests go: a path on the host, or an absolute webhook URL."""

    kind: str
    host: str
    urls: dict[str, str]

    @classmethod
    def of(cls, *, kind: str, host: str, webhook_url: str = "") -> Target:
        """Every endpoint on one collector: CustomerLabs' host and the source's ``webhook_url``, or the mock
        at ``host`` (its own webhook; ``webhook_url`` is the real target's alone)."""
        if kind == "customerlabs":
            if not webhook_url:
                raise ValueError(
                    "--target customerlabs needs the events webhook URL of your CustomerLabs "
                    "source: pass --webhook-url or set target.webhook_url in the scenario"
                )
            return cls(kind, host or CUSTOMERLABS_URL, {**ENDPOINT_PATHS, "events": webhook_url})
        # The mock's events go to its own webhook: a webhook URL (the real source's) would split one
        # test between two collectors, and send the real one traffic meant for a mock.
        return cls(kind, host, dict(ENDPOINT_PATHS))

    def absolute(self, endpoint: str) -> str:
        """The absolute URL an endpoint's requests go to."""
        url = self.urls[endpoint]
        return url if "://" in url else self.host.rstrip("/") + url

    def describe(self) -> dict[str, str]:
        """For reports: the webhook URL with its secret masked."""
        return {
            "kind": self.kind,
            "host": self.host,
            **{ep: redact_url(u) if "://" in u else u for ep, u in self.urls.items()},
        }


class RunContext:
    """Shared by every user of one process. Built at test start; sharded once the master says how."""

    def __init__(
        self,
        *,
        scenario: Scenario,
        target: Target,
        think_scale: float = 1.0,
        start_time: float = 0.0,
        rate_cap: float | None = None,
        endpoint: str = "events",
    ) -> None:
        self.scenario = scenario
        self.target = target
        self.endpoint = endpoint
        self.rate_cap = rate_cap
        self._next_send = 0.0
        self._bodies: list[tuple[Request, bytes]] = []
        self._users = 0
        offline = scenario.client.offline
        #: Requests the app keeps when it cannot send (0 = none: a failed request is just a failure).
        self.queue_limit = offline.queue_limit if scenario.client.retry.max_attempts > 1 or offline.share else 0
        self.offline_share = offline.share
        #: Requests waiting in this process's users' offline queues now.
        self.queued = 0
        #: Attempts sent and not yet answered now (sampled once a second: a stall shows on the timeline).
        self.in_flight = 0
        #: Request name -> the funnel stage its success marks a session with.
        self.stage_of = {step: stage for stage, steps in funnel_steps(scenario.journey).items() for step in steps}
        self.think_scale = think_scale
        self.stats = RunStats()
        self.population: Population | None = None
        self.engine: JourneyEngine | None = None
        self.shard_index = 0
        self.shard_count = 1
        # Devices of the scenario's first day (what validate checks), not of the run's: bodies are stamped
        # at send time, but every worker must build the same devices, on any day (a seed, the same run).
        self._full = Population.build(
            config=scenario.population, app=scenario.app, seed=scenario.seed, on=scenario.time.start_date()
        )
        self._start_time = start_time
        self._ready = Event()
        self._next_device = 0
        self._returning: deque[Iterator[list[Request]]] = deque()
        #: Lives of the devices a user is playing a session of now, by the session's id: they come
        #: back (``session_done``) when the session ends, so no device is in two sessions at once.
        self._playing: dict[int, Iterator[list[Request]]] = {}
        self._came_back = Event()
        self.exhausted = False

    def assign_shard(self, index: int, count: int) -> None:
        """Play shard ``index`` of ``count`` (a contiguous block): disjoint across workers, the whole in union."""
        if not 0 <= index < count:
            raise ValueError(f"shard {index} of {count} does not exist")
        self.shard_index, self.shard_count = index, count
        self.population = self._full.shard(index, count) if count > 1 else self._full
        self.engine = JourneyEngine(scenario=self.scenario, population=self.population)
        self._ready.set()

    def next_session(self, *, returning_window: int) -> list[Request] | None:
        """The next session to play, or ``None`` once every device's life is over.

        The caller plays it, then gives it back (``session_done``): only then does its device join
        the queue of returning devices. A device is picked again once at least ``returning_window``
        devices wait (so its sessions are not played back to back), or when no new device is left;
        when every device left is in a session, this waits for one to come back.
        """
        self._ready.wait()
        assert self.engine is not None and self.population is not None
        while True:
            if self._returning and (
                len(self._returning) >= returning_window or self._next_device >= len(self.population)
            ):
                life = self._returning.popleft()
            elif self._next_device < len(self.population):
                i = self._next_device
                self._next_device += 1
                life = self.engine.sessions(i, start_time=self._start_time)
                self.stats.count("devices")
            elif self._playing:
                self._came_back.clear()
                self._came_back.wait()
                continue
            else:
                if not self.exhausted:
                    self.exhausted = True
                    log.warning(
                        "every device of this process's %d has lived its whole life: no work left; "
                        "raise population.devices for a longer run",
                        len(self.population),
                    )
                return None
            session = next(life, None)
            if session is not None:
                self._playing[id(session)] = life
                return session

    def session_done(self, session: list[Request]) -> None:
        """``session`` (from ``next_session``) has been played: its device may have its next one."""
        life = self._playing.pop(id(session), None)
        if life is not None:
            self._returning.append(life)
            self._came_back.set()

    def next_user_seed(self) -> int:
        """A seed for the next user's own draws (jitter, offline sessions): runs repeat from the seed."""
        self._users += 1
        return (self.scenario.seed << 24) ^ (self.shard_index << 16) ^ self._users

    def endpoint_bodies(self, count: int = 2000) -> list[tuple[Request, bytes]]:
        """Up to ``count`` healthy requests of ``self.endpoint`` from this shard's devices, serialised once."""
        if not self._bodies:
            self._ready.wait()
            assert self.engine is not None and self.population is not None
            now = time.time()
            for i in range(len(self.population)):
                for req in self.engine.device_life(i):
                    if req.endpoint == self.endpoint and not req.faulty:
                        req.stamp(now)
                        self._bodies.append((req, payloads.dumps(req.body)))
                if len(self._bodies) >= count:
                    break
            if not self._bodies:
                raise RuntimeError(f"the scenario's devices send no {self.endpoint} request")
        return self._bodies

    def pace(self) -> None:
        """Hold the process's sends under the rate cap (a real target), shared fairly across shards."""
        if self.rate_cap is None:
            return
        interval = self.shard_count / self.rate_cap
        now = time.time()
        slot = max(now, self._next_send)
        self._next_send = slot + interval
        if slot > now:
            gevent.sleep(slot - now)

    def wait_ready(self, timeout: float | None = None) -> bool:
        ready: bool = self._ready.wait(timeout)
        return ready
