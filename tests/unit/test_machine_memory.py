"""What ``loadsim generate`` believes it may take before it builds a population (simulator.machine), and
the per-device figure it multiplies (``BUILD_BYTES_PER_DEVICE``) held to a real build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simulator import machine
from simulator.population import BUILD_BYTES_PER_DEVICE

_GIB = 1 << 30
_V1 = "memory/memory."  # cgroup v1 files
_V1_NONE = str(2**63 - 4096)  # v1's "no limit": 2^63 rounded down to a page
_SAID = {"machine": "the machine's available memory and swap", "cgroup": "the container's memory limit (cgroup)"}
_MEMINFO = "MemTotal: 33554432 kB\nMemAvailable: 8388608 kB\nSwapFree: 1048576 kB\n"  # 8 GiB + 1 GiB of swap


@pytest.mark.parametrize(
    ("files", "free", "binds"),
    [
        ({"0::/": None}, 9 * _GIB, "machine"),
        ({"0::/": None, "memory.max": "max", "memory.current": "1"}, 9 * _GIB, "machine"),
        ({"0::/": None, "memory.max": str(2 * _GIB), "memory.current": str(_GIB // 2)}, 3 * _GIB // 2, "cgroup"),
        (  # the tightest level of a pod's groups
            {
                "0::/pod/app": None,
                "pod/memory.max": str(4 * _GIB),
                "pod/memory.current": str(_GIB),
                "pod/app/memory.max": "max",
                "pod/app/memory.current": str(_GIB),
            },
            3 * _GIB,
            "cgroup",
        ),
        ({"0::/": None, "memory.max": "garbage", "memory.current": "1"}, 9 * _GIB, "machine"),
        ({"4:memory:/docker/x": None, f"{_V1}limit_in_bytes": str(_GIB), f"{_V1}usage_in_bytes": "0"}, _GIB, "cgroup"),
        ({"4:memory:/": None, f"{_V1}limit_in_bytes": _V1_NONE, f"{_V1}usage_in_bytes": "5"}, 9 * _GIB, "machine"),
        ({"0::/": None, "memory.max": str(_GIB), "memory.current": str(2 * _GIB)}, 0, "cgroup"),  # over it already
    ],
)  # fmt: skip
def test_headroom_is_the_tightest_of_the_machine_and_the_cgroup(
    tmp_path: Path, files: dict[str, str | None], free: int, binds: str
) -> None:
    """A container's --memory or a pod's limit is a cgroup's, which /proc/meminfo (the host's) does not show."""
    (tmp_path / "meminfo").write_text(_MEMINFO)
    (tmp_path / "status").write_text("Name: python\n")  # no VmSize: the address-space limit is not read
    (tmp_path / "self-cgroup").write_text(next(k for k, v in files.items() if v is None) + "\n")
    for name, text in files.items():
        if text is not None:
            (tmp_path / "fs" / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "fs" / name).write_text(text + "\n")
    got = machine.headroom(tmp_path / "meminfo", tmp_path / "status", tmp_path / "self-cgroup", tmp_path / "fs")
    assert got == machine.Headroom(free, _SAID[binds]), got


def test_no_limit_readable_refuses_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "none"
    if machine.resource.getrlimit(machine.resource.RLIMIT_AS)[0] != machine.resource.RLIM_INFINITY:
        pytest.skip("this process runs under ulimit -v")
    assert machine.headroom(missing, missing, missing, missing) is None


_BUILD = """
import dataclasses, sys
from pathlib import Path
from simulator.population import Population
from simulator.scenario import load_scenario
def peak():  # VmHWM, not ru_maxrss: Linux keeps a parent's ru_maxrss across fork and exec
    return next(int(x.split()[1]) for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM"))
sc = load_scenario("ecommerce")
before = peak()
Population.build(config=dataclasses.replace(sc.population, devices=int(sys.argv[1])), app=sc.app, seed=7)
print((peak() - before) * 1024)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM (Linux)")
def test_the_memory_check_s_bytes_a_device_are_what_a_build_takes() -> None:
    """Too low and generate starts builds that cannot finish; too high and it refuses ones that could."""
    n = 1_000_000
    done = subprocess.run([sys.executable, "-c", _BUILD, str(n)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    per_device = int(done.stdout) / n
    assert 0.8 * BUILD_BYTES_PER_DEVICE <= per_device <= BUILD_BYTES_PER_DEVICE, per_device
