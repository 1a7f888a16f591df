"""loadsim: load testing and traffic simulation for the CustomerLabs Mobile Tracking API."""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:  # not typing.Any: every import here comes before `loadsim` holds Ctrl-C
    # importlib.metadata (email, zipfile, csv...) costs more than a whole `loadsim sample`: only for --version.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("loadsim")
        except PackageNotFoundError:  # running from a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
