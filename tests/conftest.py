"""Test-wide settings: Hypothesis is derandomized and has no deadline (CI machines are shared and noisy)."""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("loadsim", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("loadsim")
