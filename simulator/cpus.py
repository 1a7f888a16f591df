"""How many CPUs this process may use: ``loadsim generate --jobs 0`` and ``loadsim run --processes -1``.

``os.cpu_count()`` counts the host's CPUs. A process under taskset or in a CPU set sees fewer in its
affinity mask, and one in a container (``--cpus``) or a pod with a CPU limit has a cgroup quota that
neither shows: one worker per host CPU there is many processes time-sliced on a few CPUs, each with
its own memory.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = ["cgroup_cpu_limit", "usable_cpus"]


def cgroup_cpu_limit(self_cgroup: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The CPUs this process's cgroup quota allows (a container's ``--cpus``, a pod's CPU limit),
    rounded up; None without a quota, or where none can be read. cgroup v2 (the tightest ``cpu.max``
    from the process's group up to the root) or v1 (``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``)."""
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        return None
    limits: list[int] = []
    files: list[tuple[Path, Path | None]]
    for line in lines:
        _, controllers, path = [*line.split(":", 2), "", ""][:3]
        if controllers == "" and path:  # v2: one hierarchy, a cpu.max at each level
            group = root / path.strip().lstrip("/")
            levels = [group, *(p for p in group.parents if p.is_relative_to(root))]
            files = [(level / "cpu.max", None) for level in levels]
        elif "cpu" in controllers.split(","):
            files = [(root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us")]
        else:
            continue
        for quota_file, period_file in files:
            try:
                quota, _, period = quota_file.read_text().strip().partition(" ")
                if period_file is not None:
                    period = period_file.read_text().strip()
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
