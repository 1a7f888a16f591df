"""The layers hold at run time too: reading a scenario or a dataset loads only what it needs.

(``lint-imports`` in ``make test`` checks the import graph; these check what one call loads.)
"""

from __future__ import annotations

import subprocess
import sys

import pytest

LOADED = "import sys; print(' '.join(sorted(sys.modules)))"


def modules_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\n{LOADED}"], capture_output=True, text=True, check=True, timeout=60
    )
    return set(done.stdout.split())


def test_checking_a_scenarios_mock_options_does_not_load_the_mock_server() -> None:
    code = (
        "from simulator.scenario import parse_scenario\n"
        'parse_scenario(\'[journey.states]\\nhome = {}\\n[target.mock]\\nlatency = "40ms"\\nerror_rate = "0.01"\')'
    )
    loaded = modules_after(code)
    assert "simulator.faultspec" in loaded or "simulator.mock.faults" in loaded  # the flags were read
    assert not {m for m in loaded if m.startswith(("simulator.mock.server", "httptools", "asyncio"))}


@pytest.mark.parametrize("name", ["read_dataset", "read_summary"])
def test_reading_a_dataset_does_not_load_the_writer(name: str) -> None:
    loaded = modules_after(f"from simulator.dataset import {name}")
    assert not {m for m in loaded if m in ("simulator.dataset.writer", "multiprocessing", "simulator.dataset.rows")}
