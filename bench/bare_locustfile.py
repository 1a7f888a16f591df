"""The reference for bench_harness: a bare FastHttpUser posting one constant, pre-serialised body.

Usage: locust -f bench/bare_locustfile.py --headless --host http://127.0.0.1:8080 -u 50 -t 15s
"""

from locust import FastHttpUser, constant, task

from simulator.contract import MOCK_WEBHOOK_PATH
from simulator.sample import sample_requests

_EVENT = next(r for r in sample_requests(scenario="smoke", count=5) if r["endpoint"] == "events" and not r["faulty"])


class BareUser(FastHttpUser):
    wait_time = constant(0)
    _body = __import__("orjson").dumps(_EVENT["body"])
    _headers = _EVENT["headers"]

    @task
    def post(self) -> None:
        self.client.post(MOCK_WEBHOOK_PATH, data=self._body, headers=self._headers)
