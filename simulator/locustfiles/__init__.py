"""The bundled locustfiles, thin entry files for ``locust -f``.

They ship inside the package so an installed loadsim has them: ``loadsim locustfile NAME`` prints
the path of one (``locust -f "$(loadsim locustfile tracking)" ...``) and :func:`path` returns it
to Python callers. This module imports nothing heavy: the CLI lists the names without importing Locust.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from simulator.errors import HarnessError

__all__ = ["NAMES", "path"]

#: tracking plays the scenario's journeys, endpoint posts one endpoint's bodies, replay sends a dataset.
NAMES: tuple[str, ...] = ("tracking", "endpoint", "replay")


def path(name: str = "tracking") -> Path:
    """The file of a bundled locustfile: a real path, since ``locust -f`` reads one."""
    if name not in NAMES:
        raise HarnessError(f"no bundled locustfile {name!r}; choose one of {', '.join(NAMES)}")
    found = Path(str(resources.files(__name__) / f"{name}.py"))
    if not found.is_file():
        raise HarnessError(f"locustfile {found} is missing from the installed package: reinstall loadsim")
    return found
