"""Targets: where a run sends, and never showing a webhook's secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.loadtest.context import Target, redact_url


def test_webhook_secret_is_never_shown() -> None:
    url = "https://io.v2.customerlabs.co/webhook/5f2a9c0e7b1d4a3f8e6c2b9a?token=s3cr3t"
    shown = redact_url(url)
    assert "5f2a9c0e7b1d4a3f8e6c2b9a" not in shown and "s3cr3t" not in shown and shown.startswith("https://io.v2")
    target = Target.of(kind="customerlabs", host="", webhook_url=url)
    assert "s3cr3t" not in str(target.describe()) and target.urls["events"] == url


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("https://example.test/hook/secret", "secret"),  # no digit: shown in full before
        ("https://example.test/abcdefghij", "abcdefghij"),
        ("https://example.test/hook/a1/b2c3", "b2c3"),
        ("https://example.test/SECRETTOKEN123/events", "SECRETTOKEN123"),  # a token first
        ("https://user:hunter2@example.test/hook/x", "hunter2"),  # userinfo
    ],
)
def test_a_webhook_path_is_masked_past_its_first_segment_whatever_it_looks_like(url: str, secret: str) -> None:
    shown = redact_url(url)
    assert secret not in shown and "example.test/" in shown, shown


def test_real_target_needs_a_webhook_url() -> None:
    with pytest.raises(ValueError, match="--webhook-url"):
        Target.of(kind="customerlabs", host="", webhook_url="")


def test_a_runs_devices_are_those_of_the_scenarios_first_day(tmp_path: Path) -> None:
    """Before: a load test built 2026-01-01 devices whatever the scenario, so one whose app releases all
    came after that (and before its time.start: validate and generate accept it) failed at Locust's
    test start. Devices are those of time.start, the same on every worker and every day."""
    from simulator.loadtest.context import RunContext
    from simulator.scenario import load_scenario

    path = tmp_path / "later.toml"
    path.write_text(
        'extends = "smoke"\n[app]\nreleases = [{version = "9.0", build = 900, released = "2027-06-01"}]\n'
        '[time]\nstart = "2027-06-01"\n',
        encoding="utf-8",
    )
    ctx = RunContext(scenario=load_scenario(path), target=Target.of(kind="mock", host="http://127.0.0.1:9"))
    ctx.assign_shard(0, 1)
    assert ctx.population is not None
    assert {ctx.population.device(i)["info"]["app_version_name"] for i in range(len(ctx.population))} == {"9.0"}
