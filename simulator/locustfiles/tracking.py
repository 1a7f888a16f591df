"""Devices replay the scenario's journeys against the mock collector or CustomerLabs.

Usage: locust -f "$(loadsim locustfile tracking)" --web-host 127.0.0.1 --host http://127.0.0.1:8080 --scenario smoke
(or `loadsim run smoke`, which starts the mock for you and writes the report).
"""

from simulator.loadtest import DeviceUser, ScenarioShape

__all__ = ["DeviceUser", "ScenarioShape"]
