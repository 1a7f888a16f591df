"""What this machine lets this process use: CPUs (``loadsim generate --jobs 0``, ``loadsim run
--processes -1``) and memory (``loadsim generate`` refuses a population that cannot fit).

``os.cpu_count()`` counts the host's CPUs. A process under taskset or in a CPU set sees fewer in its
affinity mask, and one in a container (``--cpus``) or a pod with a CPU limit has a cgroup quota that
neither shows: one worker per host CPU there is many processes time-sliced on a few CPUs, each with
its own memory.

Memory is the tightest of the machine's available memory and free swap (``/proc/meminfo``), the
address-space limit (``ulimit -v``, less what the process maps already) and the cgroup's limit (a
container's ``--memory``, a pod's memory limit, less what the group uses already). Past the machine's
memory the kernel's OOM killer ends a process with no word; past the others it fails part way.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import NamedTuple

try:
    import resource
except ImportError:  # Windows: no ulimit -v to read
    resource = None  # type: ignore[assignment]

__all__ = ["Headroom", "cgroup_cpu_limit", "cgroup_dirs", "headroom", "usable_cpus"]


def cgroup_dirs(controller: str, self_cgroup: Path, root: Path) -> list[tuple[Path, bool]]:
    """The cgroup folders whose ``controller`` limits bind this process, each with True for v1: under
    v2 its group and every group above it (a pod's, then its container's); under v1 the controller's
    mount, where a container sees its own group. Empty where /proc/self/cgroup cannot be read."""
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        return []
    dirs: list[tuple[Path, bool]] = []
    for line in lines:
        _, controllers, path = [*line.split(":", 2), "", ""][:3]
        if controllers == "" and path:  # v2: one hierarchy, the controller's files at each level
            group = root / path.strip().lstrip("/")
            dirs += [(level, False) for level in [group, *(p for p in group.parents if p.is_relative_to(root))]]
        elif controller in controllers.split(","):
            dirs.append((root / controller, True))
    return dirs


def cgroup_cpu_limit(self_cgroup: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The CPUs this process's cgroup quota allows (a container's ``--cpus``, a pod's CPU limit),
    rounded up; None without a quota, or where none can be read. cgroup v2 (the tightest ``cpu.max``
    from the process's group up to the root) or v1 (``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``)."""
    limits: list[int] = []
    for folder, v1 in cgroup_dirs("cpu", self_cgroup, root):
        try:
            if v1:
                quota = (folder / "cpu.cfs_quota_us").read_text().strip()
                period = (folder / "cpu.cfs_period_us").read_text().strip()
            else:
                quota, _, period = (folder / "cpu.max").read_text().strip().partition(" ")
            if quota != "max" and int(quota) > 0:  # v1 says -1 for none
                limits.append(math.ceil(int(quota) / int(period)))
        except (OSError, ValueError, ZeroDivisionError):
            continue  # no such file at this level, or unreadable: no limit known from it
    return max(1, min(limits)) if limits else None


def usable_cpus() -> int:
    """CPUs this process may use (``--jobs 0``): its affinity mask (taskset, a CPU set), bounded by a
    cgroup quota; ``os.cpu_count()`` counts the host's, which a container or a pod may not have."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform
        n = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    return n if limit is None else min(n, limit)


class Headroom(NamedTuple):
    """Bytes this process may still take, and the limit that says so (for the user)."""

    free: int
    limit: str


def _kib_fields(path: Path, names: tuple[str, ...]) -> list[int] | None:
    """The ``Name: N kB`` fields of a /proc file, in bytes; None where one cannot be read."""
    try:
        fields = dict(line.split(":", 1) for line in path.read_text().splitlines() if ":" in line)
        return [int(fields[name].split()[0]) * 1024 for name in names]
    except (OSError, KeyError, ValueError, IndexError):
        return None


def _cgroup_free(self_cgroup: Path, root: Path) -> int | None:
    """What the tightest cgroup memory limit above this process leaves (v2 ``memory.max`` less
    ``memory.current`` at each level, v1 ``memory.limit_in_bytes`` less ``memory.usage_in_bytes``);
    None without a limit, or where none can be read."""
    free: list[int] = []
    for folder, v1 in cgroup_dirs("memory", self_cgroup, root):
        limit_file, used_file = (
            ("memory.limit_in_bytes", "memory.usage_in_bytes") if v1 else ("memory.max", "memory.current")
        )
        try:
            limit = (folder / limit_file).read_text().strip()
            # v1 says "no limit" with a page-rounded 2^63: anything past 2^60 bytes is none.
            if limit != "max" and int(limit) < 1 << 60:
                free.append(int(limit) - int((folder / used_file).read_text().strip()))
        except (OSError, ValueError):
            continue  # no such file at this level, or unreadable: no limit known from it
    return max(0, min(free)) if free else None


def headroom(
    meminfo: Path = Path("/proc/meminfo"),
    status: Path = Path("/proc/self/status"),
    self_cgroup: Path = Path("/proc/self/cgroup"),
    root: Path = Path("/sys/fs/cgroup"),
) -> Headroom | None:
    """The memory this process may still take and the limit that binds; None where no limit can be
    read (not Linux): then nothing is refused for want of memory."""
    known: list[Headroom] = []
    machine = _kib_fields(meminfo, ("MemAvailable", "SwapFree"))
    if machine is not None:
        known.append(Headroom(sum(machine), "the machine's available memory and swap"))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS) if resource else (-1, -1)
    mapped = _kib_fields(status, ("VmSize",))
    if resource and soft != resource.RLIM_INFINITY and mapped is not None:
        known.append(Headroom(max(0, soft - mapped[0]), "the address-space limit (ulimit -v)"))
    group = _cgroup_free(self_cgroup, root)
    if group is not None:
        known.append(Headroom(group, "the container's memory limit (cgroup)"))
    return min(known) if known else None
