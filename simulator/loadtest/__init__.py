"""Locust glue: the device user, the scenario's load shape, the harness's arguments and hooks.

Importing this package registers the harness's Locust event listeners (arguments, sharding,
stats shipping, the report at the end); locustfiles import what they run from here.
"""

from __future__ import annotations

from simulator.loadtest import hooks as hooks
from simulator.loadtest import webui as webui  # the web UI's harness tab (registers on init)
from simulator.loadtest.shape import ScenarioShape
from simulator.loadtest.user import DeviceUser, EndpointUser

__all__ = ["DeviceUser", "EndpointUser", "ScenarioShape"]
