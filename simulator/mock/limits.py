"""The mock's limits and timeouts, as a production server has them (nginx's names in brackets).

Each is a ``loadsim mock`` flag; the defaults are far above anything a real SDK sends and far
below what would let one client hurt the others.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

__all__ = ["Limits", "fd_budget"]

#: File descriptors kept free of connections: SQLite's file, WAL and shared memory, the
#: checkpointer's own three, the loop's epoll and self-pipe, the listener, the log.
FD_RESERVE = 24


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Bounds on one request and one connection; sizes in bytes, times in seconds."""

    #: Longest request line (method, URL, version) before a 414 [large_client_header_buffers].
    max_request_line: int = 8 * 1024
    #: Largest header block (request line included) before a 431 [large_client_header_buffers].
    max_header_bytes: int = 64 * 1024
    #: Largest body before a 413, decided from Content-Length before any 100 Continue [client_max_body_size].
    max_body: int = 1024 * 1024
    #: Seconds a request's headers may take to arrive before a 408 [client_header_timeout].
    header_timeout: float = 10.0
    #: Seconds between two reads of a body before a 408 [client_body_timeout].
    body_timeout: float = 10.0
    #: Seconds an idle keep-alive connection stays open [keepalive_timeout].
    idle_timeout: float = 60.0
    #: Connections served at once; ``None``: as many as the file descriptor limit leaves room for.
    max_connections: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_request_line", "max_header_bytes", "max_body"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 byte, got {getattr(self, name)}")
        for name in ("header_timeout", "body_timeout", "idle_timeout"):
            value = getattr(self, name)
            if not 0 < value < float("inf"):
                raise ValueError(f"{name} must be a finite number of seconds above 0, got {value}")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {self.max_connections}")

    def connection_budget(self) -> int:
        """Connections to serve at once: ``max_connections``, never more than the fd limit allows."""
        budget = fd_budget()
        return budget if self.max_connections is None else min(self.max_connections, budget)


def fd_budget() -> int:
    """File descriptors this process can still give to connections (the soft limit minus those in use)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:  # not Linux: assume a small start-up set
        in_use = 16
    return max(4, soft - in_use - FD_RESERVE)
