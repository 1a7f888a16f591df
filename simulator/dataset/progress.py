"""The progress line of ``loadsim generate``."""

from __future__ import annotations

import sys
import time


class Progress:
    """A progress line on stderr when it is a terminal, a few updates a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = 0.0
        self._label = ""
        self._total = 0

    def phase(self, label: str, total: int) -> None:
        self._label, self._total, self._last = label, total, 0.0
        self.update(0)

    def update(self, done: int, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        total = max(self._total, 1)
        width = 30
        filled = int(width * min(done, total) / total)
        sys.stderr.write(f"\r{self._label:<9} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{self._total:,}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            self.update(self._total, force=True)
            sys.stderr.write("\n")
