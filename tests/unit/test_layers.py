"""The layers hold at run time too: reading a scenario or a dataset loads only what it needs.

(``lint-imports`` in ``make test`` checks the import graph; these check what one call loads.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def harness_mock_or_report(loaded: set[str]) -> set[str]:
    heavy = ("locust", "gevent", "asyncio")
    ours = ("simulator.mock", "simulator.loadtest", "simulator.report")
    return {m for m in loaded if m.split(".")[0] in heavy or m.startswith(ours)}


def test_loadsim_generate_loads_neither_locust_nor_the_mock_nor_the_report(tmp_path: Path) -> None:
    """A dataset is written without the harness: no Locust, gevent, mock collector or report code."""
    argv = ["generate", "smoke", "--users", "3", "--days", "1", "--quiet", "--out", str(tmp_path / "out")]
    loaded = modules_after(f"from simulator.cli import main\nmain({argv!r})")
    assert (tmp_path / "out" / "summary.json").is_file()
    assert not harness_mock_or_report(loaded)


def test_loadsim_help_loads_neither_locust_nor_the_mock_nor_the_scenario_model() -> None:
    code = (
        "import contextlib, io\nfrom simulator.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n    main(['--help'])"
    )
    loaded = modules_after(code)
    assert "argparse" in loaded
    assert not harness_mock_or_report(loaded)
    assert not {m for m in loaded if m.startswith(("simulator.scenario", "numpy"))}
