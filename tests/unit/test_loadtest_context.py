"""Targets: where a run sends, and never showing a webhook's secret."""

from __future__ import annotations

import pytest

from simulator.loadtest.context import Target, redact_url


def test_webhook_secret_is_never_shown() -> None:
    url = "https://io.v2.customerlabs.co/webhook/5f2a9c0e7b1d4a3f8e6c2b9a?token=s3cr3t"
    shown = redact_url(url)
    assert "5f2a9c0e7b1d4a3f8e6c2b9a" not in shown and "s3cr3t" not in shown and shown.startswith("https://io.v2")
    target = Target.of(kind="customerlabs", host="", webhook_url=url)
    assert "s3cr3t" not in str(target.describe()) and target.urls["events"] == url


def test_real_target_needs_a_webhook_url() -> None:
    with pytest.raises(ValueError, match="--webhook-url"):
        Target.of(kind="customerlabs", host="", webhook_url="")
