"""The Locust users: a device user that plays journeys, and a bare endpoint user for sizing a collector."""

from __future__ import annotations

import time
from typing import Any

import gevent
import orjson
from gevent import GreenletExit
from gevent.queue import Queue
from locust import FastHttpUser, constant, task
from locust.exception import StopUser

from simulator import contract
from simulator.journey import Request
from simulator.loadtest.context import RunContext
from simulator.mock.state import digest

__all__ = ["DeviceUser", "EndpointUser", "OpenArrivals", "TrackingUser"]


class OpenArrivals:
    """The open model: sessions arrive at the target rate, whether or not the target keeps up.

    Each arrival is handed to an idle user with its intended start; one that finds every user
    busy is counted as dropped, never silently skipped. Requests are timed from their intended
    start, so a stalled target shows in the latency (no coordinated omission).
    """

    def __init__(self, ctx: RunContext, *, rate_at: Any, requests_per_second: bool) -> None:
        self.ctx = ctx
        self.rate_at = rate_at  # elapsed seconds -> target rate for this process (0 = pause)
        self.requests_per_second = requests_per_second
        self.queue: Queue[tuple[float, list[Request]] | None] = Queue()
        self.idle = 0
        self.played_sessions = 0
        self.played_requests = 0
        self.greenlet: gevent.Greenlet[Any, Any] | None = None

    def start(self) -> None:
        self.greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self.greenlet is not None:
            self.greenlet.kill(block=False)
        for _ in range(self.idle):
            self.queue.put(None)

    def take(self) -> tuple[float, list[Request]] | None:
        """Block until an arrival is handed to this user."""
        self.idle += 1
        try:
            return self.queue.get()
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
        intended = start
        while True:
            rate = self._sessions_rate(self.rate_at(intended - start))
            if rate is None or rate < 0:
                return
            if rate == 0:
                intended += 0.1
                gevent.sleep(max(0.0, intended - time.time()))
                continue
            intended += 1.0 / rate
            delay = intended - time.time()
            if delay > 0:
                gevent.sleep(delay)
            if self.idle > self.queue.qsize():
                session = ctx.next_session(returning_window=self.idle + 1)
                if session is None:
                    return
                stats.arrive(intended, dropped=False)
                self.played_sessions += 1
                self.played_requests += len(session)
                self.queue.put((intended, session))
            else:
                stats.arrive(intended, dropped=True)


class TrackingUser(FastHttpUser):
    """Sends tracking requests and judges the answers; subclasses choose what to send."""

    abstract = True
    wait_time = constant(0)  # think times come from the journeys; Locust's own waits would add to them
    network_timeout = 30.0
    connection_timeout = 10.0
    ctx: RunContext

    def on_start(self) -> None:
        ctx: RunContext | None = getattr(self.environment, "loadsim_context", None)
        if ctx is None:
            raise StopUser()
        self.ctx = ctx

    def post(self, req: Request, data: bytes, intended: float | None, began: float) -> None:
        """POST one body; record its latency from ``intended`` (open model) or from ``began``."""
        ctx = self.ctx
        endpoint = req.endpoint
        ctx.pace()
        try:
            with self.client.post(ctx.target.urls[endpoint], data=data, headers=req.headers, name=req.step,
                                  catch_response=True) as resp:
                ended = time.time()
                outcome, error, example = _judge(req, resp.status_code, resp.content, getattr(resp, "error", None))
                if outcome == "failure":
                    resp.failure(example)
                else:
                    resp.success()
                    if outcome == "ok":
                        ctx.stats.accept(endpoint, digest(data))
        except GreenletExit:
            # Stopped mid-request: the target may have stored it; reconciliation allows for that.
            ctx.stats.interrupt(endpoint, digest(data))
            raise
        ctx.stats.record(endpoint=endpoint, step=req.step,
                         latency=ended - (began if intended is None else min(intended, began)),
                         service=ended - began, outcome=outcome, error=error, example=example, at=ended)
        ctx.stats.sent_bytes += len(data)


class DeviceUser(TrackingUser):
    """Plays devices' sessions from the scenario's journeys, one session at a time.

    Requests are named by step (``externalIds``, ``identify``, ``event:Purchase``); a 400 to a
    faulty-SDK device's malformed body is an expected rejection, not a failure.
    """

    @task
    def play(self) -> None:
        ctx = self.ctx
        arrivals: OpenArrivals | None = getattr(self.environment, "loadsim_arrivals", None)
        if arrivals is not None:
            item = arrivals.take()
            if item is None:
                raise StopUser()
            start, session = item
        else:
            session = ctx.next_session(returning_window=max(1, self.environment.runner.user_count))
            if session is None:
                raise StopUser()
            start = time.time()
        base = session[0].offset
        scale = ctx.think_scale
        for req in session:
            intended = start + (req.offset - base) * scale
            delay = intended - time.time()
            if delay > 0:
                gevent.sleep(delay)
            began = time.time()
            req.stamp(began)
            # The closed model times a request from its start; the open model from when it was due.
            self.post(req, orjson.dumps(req.body), intended if arrivals is not None else None, began)


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
        self.post(req, data, None, time.time())


def _judge(req: Request, status: int, content: bytes | None, error: Any) -> tuple[str, str | None, str | None]:
    """(outcome, error kind, first example) of one response, as a person reading the report needs it."""
    if status == 0:  # no HTTP answer: connection refused or reset, timeout, garbage
        kind = type(error).__name__ if error is not None else "no response"
        return "failure", kind, f"{kind}: {error}"[:300]
    if req.faulty:
        if status == 400:
            return "expected_rejection", None, None
        return "failure", f"faulty body got {status}", (
            f"a malformed body ({req.fault}) was answered {status}; the collector should reject it with a 400")
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


def _error_message(content: bytes | None) -> str:
    try:
        return str(orjson.loads(content or b"")["validation_error"]["error_message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return (content or b"")[:200].decode("utf-8", "replace")
