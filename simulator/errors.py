"""Errors a user can fix: the CLI prints them without a traceback and exits 2."""

from __future__ import annotations

__all__ = ["HarnessError"]


class HarnessError(Exception):
    """The harness could not run what was asked (a locustfile missing, the mock did not start...)."""
