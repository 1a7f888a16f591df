"""Test-wide settings: Hypothesis is derandomized and has no deadline (CI machines are shared and noisy)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import settings

settings.register_profile("loadsim", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("loadsim")

# Importing locust monkey-patches the interpreter with gevent, which would turn the threads of
# in-process servers (the mock) into greenlets. The test process never patches; subprocesses
# that run Locust get an environment without this variable (see ``subprocess_env``).
os.environ["LOCUST_SKIP_MONKEY_PATCH"] = "1"


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a child process that runs Locust for real."""
    env = {k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"}
    env.update(extra)
    return env


def start_loadsim(cwd: Path, *args: str) -> subprocess.Popen[str]:
    """``loadsim ARGS...`` started in ``cwd``, its stderr in its stdout: for a test that signals it mid-run."""
    return subprocess.Popen(
        [sys.executable, "-m", "simulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=subprocess_env(),
        cwd=cwd,
    )


def loadsim(cwd: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``loadsim ARGS...`` run for real in ``cwd`` (this interpreter's package), its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "simulator", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=subprocess_env(),
        cwd=cwd,
    )
