"""The Locust users: a device user that plays journeys, and a bare endpoint user for sizing a collector."""

from __future__ import annotations

import heapq
import random
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import gevent
import orjson
from gevent import GreenletExit
from gevent.queue import Empty, Queue
from geventhttpclient.client import HTTPClient
from geventhttpclient.url import URL
from locust import FastHttpUser, constant, task
from locust.exception import CatchResponseError, StopUser

from simulator import contract, payloads
from simulator.digest import digest
from simulator.journey import Request
from simulator.loadtest.context import RunContext
from simulator.loadtest.state import harness_state
from simulator.report.stats import RunStats
from simulator.report.summary import reach

__all__ = ["ARRIVAL_STEP", "Attempt", "DeviceUser", "EndpointUser", "OpenArrivals", "Queued", "TrackingUser", "advance"]


#: The longest step the arrival scheduler takes at one rate: a change of stage takes effect within it.
ARRIVAL_STEP = 0.05


def advance(t: float, need: float, rate: float, step: float = ARRIVAL_STEP) -> tuple[float, float]:
    """The scheduler's clock moved on from ``t`` at ``rate`` by at most ``step`` seconds, and what
    is still ``need``-ed of the next arrival (0.0: it is due at the time returned). One whole
    interval at the current rate would carry a low stage's rate into the high one after it."""
    if rate <= 0:
        return t + step, need
    if need <= rate * step:
        return t + need / rate, 0.0
    return t + step, need - rate * step


class OpenArrivals:
    """The open model: sessions arrive at the target rate, whether or not the target keeps up.

    Each arrival is handed to an idle user with its intended start; one that finds every user
    busy is counted as dropped, never silently skipped. Requests are timed from their intended
    start, so a stalled target shows in the latency (no coordinated omission).
    """

    def __init__(
        self, ctx: RunContext, *, rate_at: Any, requests_per_second: bool, stage_at: Any = lambda _: 0
    ) -> None:
        self.ctx = ctx
        self.rate_at = rate_at  # elapsed seconds -> target rate for this process (0 = pause)
        self.stage_at = stage_at  # elapsed seconds -> the load profile's stage, which the report counts by
        self.requests_per_second = requests_per_second
        self.queue: Queue[tuple[float, list[Request]] | None] = Queue()
        self.idle = 0
        self.played_sessions = 0
        self.played_requests = 0
        self.greenlet: gevent.Greenlet[Any, Any] | None = None

    def start(self) -> None:
        self.greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        """No more arrivals. Idle users are left waiting for Locust to stop them: woken here, they
        ended on their own while Locust was stopping them, and it logged an error for each (its
        greenlets lose their arguments once dead: "a user that didn't have proper args")."""
        if self.greenlet is not None:
            self.greenlet.kill(block=False)

    def take(self, timeout: float | None = None) -> tuple[float, list[Request]] | Literal[False] | None:
        """Block until an arrival is handed to this user; ``False`` if ``timeout`` passed first,
        ``None`` when the arrivals have stopped."""
        self.idle += 1
        try:
            item: tuple[float, list[Request]] | None = self.queue.get(timeout=timeout)
            return item
        except Empty:
            return False
        finally:
            self.idle -= 1

    def _sessions_rate(self, rate: float) -> float:
        if not self.requests_per_second:
            return rate
        per_session = self.played_requests / self.played_sessions if self.played_sessions else 5.0
        return rate / max(per_session, 1.0)

    def _run(self) -> None:
        ctx, stats = self.ctx, self.ctx.stats
        ctx.wait_ready()
        start = time.time()
        intended, need = start, 1.0
        behind = 0
        while True:
            rate = self._sessions_rate(self.rate_at(intended - start))
            if rate <= 0:
                intended += 0.1
                gevent.sleep(max(0.0, intended - time.time()))
                continue
            intended, need = advance(intended, need, rate)
            delay = intended - time.time()
            if delay > 0:
                gevent.sleep(delay)
                behind = 0
            else:
                # Behind schedule, the loop would never sleep: the users, the run time's stop and a
                # signal wait on the hub, so yield to it now and then however far behind it is.
                behind += 1
                if behind >= 256:
                    behind = 0
                    gevent.sleep(0)
            if need > 0.0:  # a step of a long interval: the next arrival is not due yet
                continue
            need = 1.0
            if self.idle > self.queue.qsize():
                session = ctx.next_session(returning_window=self.idle + 1)
                if session is None:
                    return
                stats.arrive(intended, dropped=False, stage=self.stage_at(intended - start), requests=len(session))
                self.played_sessions += 1
                self.played_requests += len(session)
                self.queue.put((intended, session))
            else:
                stats.arrive(intended, dropped=True, stage=self.stage_at(intended - start))


@dataclass(slots=True)
class Attempt:
    """How one HTTP attempt ended."""

    outcome: str
    error: str | None
    example: str | None
    #: The scenario's retry policy says to try again (a retryable status or network error).
    retryable: bool
    #: Seconds a 429 or 503 asked to wait (Retry-After), if it said.
    retry_after: float | None
    ended: float


@dataclass(slots=True, order=True)
class Queued:
    """A request the app holds in its offline queue until ``due``."""

    due: float
    seq: int
    req: Request = field(compare=False)
    data: bytes = field(compare=False)
    #: When the app first meant to send it: its latency, once sent, counts from here.
    intended: float = field(compare=False)
    #: The funnel stages its session reached (and counted) so far: shared by the session's requests,
    #: so one sent late still counts its stage once (``DeviceUser.flush``).
    reached: set[str] = field(compare=False)


class TrackingUser(FastHttpUser):
    """Sends tracking requests as the app's SDK does (timeouts, retries with backoff) and judges the answers."""

    abstract = True
    wait_time = constant(0)  # think times come from the journeys; Locust's own waits would add to them
    ctx: RunContext
    #: Attempts this user put on the wire: a request killed after one left may be stored (not before:
    #: the rate cap's wait sends nothing).
    attempts = 0

    def __init__(self, environment: Any) -> None:
        state = harness_state(environment)
        if state is not None:  # the scenario's client timeouts, before FastHttpUser builds its client
            self.network_timeout = state.scenario.client.timeout
            self.connection_timeout = state.scenario.client.connect_timeout
        super().__init__(environment)

    def on_start(self) -> None:
        harness = harness_state(self.environment)
        ctx = harness.context if harness is not None else None
        if ctx is None:
            raise StopUser()
        self.ctx = ctx
        self.rng = random.Random(ctx.next_user_seed())
        self.retry = ctx.scenario.client.retry
        self._routes: dict[str, tuple[HTTPClient, str, str]] = {}

    def attempt(self, req: Request, data: bytes, name: str) -> Attempt:
        """One POST, judged and reported to Locust's statistics; a user stopped mid-request leaves
        the body's digest for reconciliation.

        The request goes straight to the geventhttpclient client that FastHttpSession would use
        (same pool, timeouts and TLS settings) without the browser-like layers in between (cookie
        jar, redirects, response wrappers): a tracking SDK needs none of them, and skipping them
        is most of the difference to a bare FastHttpUser (``python -m bench harness``).
        """
        ctx = self.ctx
        ctx.pace()
        client, uri, url = self._route(req.endpoint)
        started = time.time()
        t0 = time.perf_counter()
        status, content, error = 0, b"", None
        ctx.in_flight += 1
        self.attempts += 1
        try:
            resp = client.request("POST", uri, body=data, headers=req.headers)
            try:
                content = resp.read()
            finally:
                resp.release()
            status = resp.status_code
        except GreenletExit:
            # Stopped mid-request: the target may have stored it; reconciliation allows for that,
            # and the report counts it as unfinished with how long it had waited (a stall shows).
            ctx.stats.interrupt(req.endpoint, digest(data), time.time() - started)
            if req.endpoint == "identify" and not req.faulty:
                ctx.stats.interrupted_identities.append(RunStats.identity_of(req.body))
            raise
        except Exception as exc:  # refused, reset, timed out, garbage: an outcome to report, not a crash
            error = exc
        finally:
            ctx.in_flight -= 1
        ended = time.time()
        ctx.stats.waited(req.endpoint, ended - started)
        outcome, kind, example = _judge(req, status, content, error)
        self.environment.events.request.fire(
            request_type="POST",
            name=name,
            response_time=(time.perf_counter() - t0) * 1000,
            response_length=len(content),
            exception=CatchResponseError(example) if outcome == "failure" else None,
            context=self.context(),
            url=url,
            start_time=started,
            response=None,
        )
        retryable = outcome == "failure" and _retryable(status, error, self.retry.on)
        retry_after = _retry_after(resp) if status in (429, 503) else None  # a status: resp was read
        ctx.stats.sent_bytes += len(data)
        return Attempt(outcome, kind, example, retryable, retry_after, ended)

    def _route(self, endpoint: str) -> tuple[HTTPClient, str, str]:
        """(client, request URI, absolute URL) of an endpoint, from this user's client pool; built once."""
        route = self._routes.get(endpoint)
        if route is None:
            url = self.ctx.target.absolute(endpoint)
            split = URL(url)
            route = self._routes[endpoint] = (
                self.client.client.clientpool.get_client(split),
                getattr(split, "quoted_uri", split.request_uri),
                url,
            )
        return route

    def backoff(self, retry_number: int, retry_after: float | None) -> float:
        """The wait before retry ``retry_number`` (1 = the first retry), jittered with the user's seeded draws."""
        policy = self.retry
        wait = min(policy.max_backoff, policy.base * policy.multiplier ** (retry_number - 1))
        if policy.jitter == "full":
            wait = self.rng.uniform(0, wait)
        elif policy.jitter == "equal":
            wait = self.rng.uniform(wait / 2, wait)
        if policy.honour_retry_after and retry_after is not None:
            wait = max(wait, retry_after)
        return wait

    def deliver(
        self, req: Request, data: bytes, intended: float | None, began: float, *, may_hold: bool = False
    ) -> Attempt | None:
        """Send one request with the scenario's retries; record it once, with its whole time.

        Retries show in Locust's tables as ``<step> (retry)``; in the harness's report a request
        that succeeded after retries is a success whose latency includes them. Returns ``None``,
        recording nothing, when every attempt failed retryably, ``may_hold`` is set and the
        scenario gives the app an offline queue: the caller keeps the request for later.
        """
        ctx, stats = self.ctx, self.ctx.stats
        result = self.attempt(req, data, req.step)
        retries = 0
        while result.retryable and retries + 1 < self.retry.max_attempts:
            retries += 1
            gevent.sleep(self.backoff(retries, result.retry_after))
            stats.retry(req.endpoint, time.time(), result.error)
            result = self.attempt(req, data, f"{req.step} (retry)")
        if retries and result.outcome != "failure":
            stats.recovered += 1
        if result.retryable and may_hold and ctx.queue_limit:
            return None  # the SDK keeps what it could not send
        if result.outcome == "ok":
            stats.accept(req.endpoint, digest(data))
            if req.endpoint == "identify":
                stats.identities.add(RunStats.identity_of(req.body))
        stats.record(
            endpoint=req.endpoint,
            step=req.step,
            latency=result.ended - (began if intended is None else min(intended, began)),
            service=result.ended - began,
            outcome=result.outcome,
            error=result.error,
            example=result.example,
            at=result.ended,
        )
        return result


class DeviceUser(TrackingUser):
    """Plays devices' sessions from the scenario's journeys, one session at a time.

    Requests are named by step (``externalIds``, ``identify``, ``event:Purchase``); a 400 to a
    faulty-SDK device's malformed body is an expected rejection, not a failure. Like a mobile
    SDK, it keeps what it could not send (every retry failed, or the device was offline) in a
    bounded queue with the original ``added_at``, and flushes the queue in a burst later.
    """

    def on_start(self) -> None:
        super().on_start()
        self.queue: list[Queued] = []  # a heap by due time
        self._seq = 0

    def on_stop(self) -> None:
        if getattr(self, "queue", None):
            self.ctx.stats.unsent += len(self.queue)
            self.ctx.queued -= len(self.queue)
            self.queue.clear()

    def hold(self, req: Request, data: bytes, intended: float, due: float, reached: set[str]) -> None:
        ctx = self.ctx
        if len(self.queue) >= ctx.queue_limit:  # full: the oldest goes, as SDK queues do
            oldest = min(self.queue, key=lambda q: q.intended)
            self.queue.remove(oldest)
            heapq.heapify(self.queue)
            ctx.stats.client_dropped += 1
            ctx.queued -= 1
        self._seq += 1
        heapq.heappush(self.queue, Queued(due, self._seq, req, data, intended, reached))
        ctx.queued += 1

    def flush(self) -> None:
        """Send every queued request that is due, back to back (the burst after an outage)."""
        ctx = self.ctx
        while self.queue and self.queue[0].due <= time.time():
            q = heapq.heappop(self.queue)
            ctx.queued -= 1
            result = self.deliver(q.req, q.data, q.intended, time.time(), may_hold=True)
            if result is None:
                self.ctx.stats.requeued += 1
                self.hold(q.req, q.data, q.intended, time.time() + ctx.scenario.client.offline.requeue_after, q.reached)
                return  # still down: try the rest later
            # Its session has ended (a flush runs between sessions): a stage it reaches now counts now.
            stage = ctx.stage_of.get(q.req.step) if result.outcome == "ok" else None
            if stage is not None and stage not in q.reached:
                reach(q.reached, stage)
                if stage in q.reached:
                    ctx.stats.count(stage)

    @task
    def play(self) -> None:
        ctx = self.ctx
        self.flush()
        harness = harness_state(self.environment)
        arrivals = harness.arrivals if harness is not None else None
        session: list[Request] | None
        if arrivals is not None:
            # Wait for an arrival, but not past the moment queued requests fall due.
            item = arrivals.take(timeout=max(0.0, self.queue[0].due - time.time()) if self.queue else None)
            if item is False:
                return  # the next play() flushes what is due
            if item is None:
                raise StopUser()
            start, session = item
        else:
            next_one = ctx.next_session(returning_window=max(1, self.environment.runner.user_count))
            if next_one is None:
                if self.queue:  # nothing new to play, but the queue must still drain
                    gevent.sleep(max(0.0, self.queue[0].due - time.time()))
                    return
                raise StopUser()
            session, start = next_one, time.time()
        # The device is this user's until the session is played (or the user is stopped in it).
        try:
            self._play_session(session, start, open_model=arrivals is not None)
        finally:
            ctx.session_done(session)

    def _play_session(self, session: list[Request], start: float, *, open_model: bool) -> None:
        ctx = self.ctx
        base = session[0].offset
        scale = ctx.think_scale
        offline = ctx.offline_share and self.rng.random() < ctx.offline_share
        if offline:
            # The device was offline for this whole session: the app queued every request with the
            # time it happened, and sends them all when it is back.
            back = start + ctx.scenario.client.offline.duration.sample(self.rng)
            past = start - (session[-1].offset - base) * scale
            stages: set[str] = set()  # the session's funnel stages, reached as its requests get through
            for req in session:
                at = past + (req.offset - base) * scale
                req.stamp(at)
                self.hold(req, payloads.dumps(req.body), at, back, stages)
            ctx.stats.offline_sessions += 1
            return
        reached: set[str] = set()  # funnel stages this session got to
        batch = ctx.scenario.client.batch
        held: list[tuple[Request, float]] = []  # events waiting for a full batch
        try:
            for req in session:
                intended = start + (req.offset - base) * scale
                delay = intended - time.time()
                if delay > 0:
                    gevent.sleep(delay)
                req.stamp(time.time())  # when the app recorded it; a batched event keeps that time
                if batch > 1 and req.endpoint == "events":
                    held.append((req, intended))
                    if len(held) < batch:
                        continue
                    due, held = held, []
                else:
                    due, held = [*held, (req, intended)], []
                for r, at in due:
                    self.send(r, at, open_model=open_model, reached=reached)
            for r, at in held:  # the session ends: the app sends what it held
                self.send(r, at, open_model=open_model, reached=reached)
        finally:
            # Also for a session the stop cut short: its stages were reached (sessions = externalIds 200s).
            for stage in reached:
                ctx.stats.count(stage)

    def send(self, req: Request, intended: float, *, open_model: bool, reached: set[str]) -> None:
        """Send one request of a live session; keep it for later if every attempt failed."""
        ctx = self.ctx
        data = payloads.dumps(req.body)
        # The closed model times a request from its start; the open model from when it was due.
        result = self.deliver(req, data, intended if open_model else None, time.time(), may_hold=True)
        if result is None:
            ctx.stats.requeued += 1
            self.hold(req, data, intended, time.time() + ctx.scenario.client.offline.requeue_after, reached)
        elif result.outcome == "ok" and req.step in ctx.stage_of:
            reach(reached, ctx.stage_of[req.step])


class EndpointUser(TrackingUser):
    """Posts one endpoint's bodies back to back, as fast as the target answers: for sizing a collector.

    The bodies are real (the scenario's devices and journeys) and serialised once, so the load
    generator spends its time on HTTP, not on building requests.
    """

    _next = 0

    @task
    def hammer(self) -> None:
        bodies = self.ctx.endpoint_bodies()
        req, data = bodies[self._next % len(bodies)]
        self._next += 1
        self.deliver(req, data, None, time.time())


def _judge(req: Request, status: int, content: bytes | None, error: Any) -> tuple[str, str | None, str | None]:
    """(outcome, error kind, first example) of one response, as a person reading the report needs it."""
    if status == 0:  # no HTTP answer: connection refused or reset, timeout, garbage
        name = type(error).__name__ if error is not None else "no response"
        kind = f"{_network_error(error)} ({name})"
        return "failure", kind, f"{name}: {error}"[:300]
    if req.faulty:
        if status == 400:
            # Named by the SDK's mistake, with the collector's own words for it (the report explains it).
            return "expected_rejection", req.fault or "faulty body", f"400 {_error_message(content)}"[:300]
        return (
            "failure",
            f"faulty body got {status}",
            (f"a malformed body ({req.fault}) was answered {status}; the collector should reject it with a 400"),
        )
    if status == 200:
        if req.endpoint == "events":
            return "ok", None, None
        try:
            body = orjson.loads(content or b"")
        except orjson.JSONDecodeError:
            return "failure", "200 body not JSON", f"{req.endpoint} answered 200 with a body that is not JSON"
        problems = contract.validate_response(req.endpoint, 200, body)
        if problems:
            return "failure", "200 body off contract", f"{req.endpoint} 200 body: {problems[0]}"
        return "ok", None, None
    if status == 400:
        message = _error_message(content)
        field = message.split(":", 1)[0] if message else "?"
        return "failure", f"400 {field}", f"400 {message}"[:300]
    return "failure", f"status {status}", f"status {status}: {(content or b'')[:200]!r}"


def _network_error(error: Any) -> str:
    """``timeout`` or ``connection`` (refused, reset, closed, garbage): the two a retry policy names.

    A timeout is not always a ``TimeoutError`` (TLS reads say "The read operation timed out" in
    an ``SSLError``), so the text counts as much as the class.
    """
    text = f"{type(error).__name__} {error}".lower()
    return "timeout" if "timeout" in text or "timed out" in text else "connection"


def _retryable(status: int, error: Any, on: tuple[Any, ...]) -> bool:
    return _network_error(error) in on if status == 0 else status in on


def _retry_after(headers: Any) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not sent by collectors we know; it reads as None)."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def _error_message(content: bytes | None) -> str:
    try:
        return str(orjson.loads(content or b"")["validation_error"]["error_message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return (content or b"")[:200].decode("utf-8", "replace")
