"""The tool as users install it: the built wheel in a fresh venv, run from an empty folder outside the checkout.

A source checkout hides packaging mistakes (files found beside the package, not in it), so this
test builds the wheel, installs it with its dependencies from the package index into a new venv
that does not see the checkout, and plays the first minutes of a new user from an empty folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    """No trace of the checkout or of the test venv: the installed console script must stand alone."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "LOCUST_SKIP_MONKEY_PATCH", "PYTHONHOME"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


def pip(python: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(),
        cwd=python.parent,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin/`` of a fresh venv holding the wheel built from this checkout."""
    base = tmp_path_factory.mktemp("wheel")
    # Build from a copy: setuptools reuses the build/ folder of the tree it builds, where stale modules
    # of an earlier build would end up in the wheel, and it must leave nothing in the checkout.
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "simulator", source / "simulator", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = base / "dist"
    built = pip(Path(sys.executable), "wheel", "--no-deps", "-w", str(dist), str(source))
    wheels = sorted(dist.glob("loadsim-*.whl"))
    if built.returncode != 0 or not wheels:
        if not _index_reachable(Path(sys.executable)):
            pytest.skip("the package index is unreachable: cannot fetch the build backend")
        pytest.fail(f"building the wheel failed:\n{built.stdout}\n{built.stderr}")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)  # no --system-site-packages: a clean install
    python = env_dir / "bin" / "python"
    done = pip(python, "install", "--quiet", str(wheels[0]))
    if done.returncode != 0:
        if not _index_reachable(python):
            pytest.skip("the package index is unreachable: cannot install the wheel's dependencies")
        pytest.fail(f"installing {wheels[0].name} failed:\n{done.stdout}\n{done.stderr}")
    return env_dir / "bin"


def _index_reachable(python: Path) -> bool:
    """Whether pip can fetch anything at all (here, Locust's own metadata) from its configured index."""
    probe = pip(python, "download", "--no-deps", "--quiet", "-d", str(python.parent / "probe"), "locust", timeout=300)
    return probe.returncode == 0


def loadsim(bin_dir: Path, cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "loadsim"), *args], capture_output=True, text=True, timeout=timeout, env=clean_env(), cwd=cwd
    )


def test_the_installed_wheel_works_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    here = tmp_path / "empty"
    here.mkdir()

    version = loadsim(installed, here, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.split() == ["loadsim", _project_version()]

    listed = loadsim(installed, here, "scenarios")
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
    assert "smoke" in names and "ecommerce" in names, listed.stdout

    first = loadsim(installed, here, "sample", "--json", "--count", "2")
    second = loadsim(installed, here, "sample", "--json", "--count", "2")
    assert first.returncode == 0, first.stderr
    assert first.stdout and first.stdout == second.stdout  # same seed, same bytes

    # The locustfiles ship too, where `locust -f` can read them.
    where = loadsim(installed, here, "locustfile", "tracking")
    assert where.returncode == 0, where.stderr
    path = Path(where.stdout.strip())
    assert path.is_file() and path.is_relative_to(installed.parent), path

    run = loadsim(installed, here, "run", "smoke", "--run-time", "5s", timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    (report,) = (here / "reports").iterdir()  # reports go to ./reports of the current folder
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert summary["scenario"] == "smoke" and summary["total"]["count"] > 0
    assert summary["reconciliation"]["ok"], summary["reconciliation"]
    assert sorted(p.name for p in here.iterdir()) == ["reports"]  # nothing else left in the user's folder


def _project_version() -> str:
    import tomllib

    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])
