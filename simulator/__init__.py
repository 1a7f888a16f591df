"""loadsim: load testing and traffic simulation for the CustomerLabs Mobile Tracking API."""

from __future__ import annotations

import os
from typing import Any

# numpy's OpenBLAS starts a thread per core when numpy is imported, and they spin for a while: about
# 0.1 s of CPU per process (each --jobs worker too) for linear algebra loadsim never does. Set before
# any submodule imports numpy; a value the user exported wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    # importlib.metadata (email, zipfile, csv...) costs more than a whole `loadsim sample`: only for --version.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("loadsim")
        except PackageNotFoundError:  # running from a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
