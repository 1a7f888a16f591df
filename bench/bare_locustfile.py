"""The references for bench_harness, each posting one constant, pre-serialised event body.

- ``BareUser``: a bare FastHttpUser, the issue's reference.
- ``LeanUser``: the same body straight through the geventhttpclient client FastHttpSession holds,
  reported to Locust's statistics: the HTTP path the harness's users take, with none of their
  work (journeys, judging, bookkeeping). The harness against it is the harness's own cost.

Usage: locust -f bench/bare_locustfile.py --headless --host http://127.0.0.1:8080 -u 50 -t 15s BareUser
"""

import time

import orjson
from geventhttpclient.url import URL
from locust import FastHttpUser, constant, task

from simulator.contract import MOCK_WEBHOOK_PATH
from simulator.sample import sample_requests

_EVENT = next(r for r in sample_requests(scenario="smoke", count=5) if r["endpoint"] == "events" and not r["faulty"])


class _Reference(FastHttpUser):
    abstract = True  # not a base with tasks: Locust would hand its tasks down to the lean user
    wait_time = constant(0)
    _body = orjson.dumps(_EVENT["body"])
    _headers = _EVENT["headers"]


class BareUser(_Reference):
    @task
    def post(self) -> None:
        self.client.post(MOCK_WEBHOOK_PATH, data=self._body, headers=self._headers)


class LeanUser(_Reference):
    def on_start(self) -> None:
        self._url = self.host.rstrip("/") + MOCK_WEBHOOK_PATH
        self._http = self.client.client.clientpool.get_client(URL(self._url))

    @task
    def post(self) -> None:
        started, t0 = time.time(), time.perf_counter()
        resp = self._http.request("POST", MOCK_WEBHOOK_PATH, body=self._body, headers=self._headers)
        try:
            content = resp.read()
        finally:
            resp.release()
        self.environment.events.request.fire(
            request_type="POST",
            name=MOCK_WEBHOOK_PATH,
            response_time=(time.perf_counter() - t0) * 1000,
            response_length=len(content),
            exception=None,
            context={},
            url=self._url,
            start_time=started,
            response=None,
        )
