"""How much more memory this process may take: ``loadsim generate`` refuses a population that cannot fit
before it spends minutes building one. Past the machine's memory the kernel's OOM killer ends the process
with no word; past ``ulimit -v`` or a container's limit it fails part way.

The tightest of: the machine's available memory and free swap (``/proc/meminfo``), the address-space
limit (``ulimit -v``, less what the process maps already) and the cgroup's limit (a container's
``--memory``, a pod's memory limit, less what the group uses already).
"""

from __future__ import annotations

import resource
from pathlib import Path
from typing import NamedTuple

__all__ = ["Headroom", "headroom"]


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
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        return None
    pairs: list[tuple[Path, Path]] = []
    for line in lines:
        _, controllers, path = [*line.split(":", 2), "", ""][:3]
        if controllers == "" and path:  # v2: one hierarchy, a memory.max at each level
            group = root / path.strip().lstrip("/")
            levels = [group, *(p for p in group.parents if p.is_relative_to(root))]
            pairs += [(level / "memory.max", level / "memory.current") for level in levels]
        elif "memory" in controllers.split(","):  # v1: a container sees its own group at the mount's root
            pairs.append((root / "memory" / "memory.limit_in_bytes", root / "memory" / "memory.usage_in_bytes"))
    free: list[int] = []
    for limit_file, used_file in pairs:
        try:
            limit = limit_file.read_text().strip()
            # v1 says "no limit" with a page-rounded 2^63: anything past 2^60 bytes is none.
            if limit != "max" and int(limit) < 1 << 60:
                free.append(int(limit) - int(used_file.read_text().strip()))
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
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    mapped = _kib_fields(status, ("VmSize",))
    if soft != resource.RLIM_INFINITY and mapped is not None:
        known.append(Headroom(max(0, soft - mapped[0]), "the address-space limit (ulimit -v)"))
    group = _cgroup_free(self_cgroup, root)
    if group is not None:
        known.append(Headroom(group, "the container's memory limit (cgroup)"))
    return min(known) if known else None
