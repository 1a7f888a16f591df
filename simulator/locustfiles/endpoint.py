"""One endpoint at the highest rate the target answers: for sizing a collector.

Usage: locust -f "$(loadsim locustfile endpoint)" --headless --host http://127.0.0.1:8080 --endpoint events -u 50 -t 1m
(real bodies from the scenario's devices, serialised once; no think time).
"""

from simulator.loadtest import EndpointUser, ScenarioShape

__all__ = ["EndpointUser", "ScenarioShape"]
