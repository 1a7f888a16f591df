"""Client behaviour under failure: retries with backoff, Retry-After, offline queues, an outage's storm."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from simulator.loadtest.user import DeviceUser
from simulator.scenario import RetryConfig
from tests.integration.test_run import loadsim_run

pytestmark = pytest.mark.integration


def backoff_user(**policy: object) -> DeviceUser:
    user = object.__new__(DeviceUser)  # backoff() needs only the policy and the user's seeded draws
    user.retry = RetryConfig(**policy)  # type: ignore[arg-type]
    user.rng = random.Random(1)
    return user


def test_backoff_grows_exponentially_up_to_its_cap() -> None:
    user = backoff_user(base=0.5, multiplier=2, max_backoff=3, jitter="none")
    assert [user.backoff(n, None) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize(("jitter", "low"), [("full", 0.0), ("equal", 0.5)])
def test_jitter_stays_within_its_band(jitter: str, low: float) -> None:
    user = backoff_user(base=1, multiplier=2, max_backoff=30, jitter=jitter)
    waits = [user.backoff(3, None) for _ in range(2000)]  # un-jittered: 4 s
    assert min(waits) >= low * 4 and max(waits) <= 4
    assert sum(waits) / len(waits) == pytest.approx((low + 1) / 2 * 4, rel=0.05)


def test_retry_after_is_honoured_when_longer() -> None:
    user = backoff_user(base=0.1, jitter="none")
    assert user.backoff(1, 2.5) == 2.5 and user.backoff(1, 0.01) == 0.1
    assert backoff_user(base=0.1, jitter="none", honour_retry_after=False).backoff(1, 2.5) == 0.1


def scenario(tmp_path: Path, text: str) -> str:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return str(path)


def test_retries_recover_every_request_from_transient_503s(tmp_path: Path) -> None:
    s = scenario(tmp_path, """extends = "smoke"
[client.retry]
max_attempts = 6
base = "20ms"
max_backoff = "100ms"
[target.mock]
error_rate = "0.2:503"
retry_after = "0"
""")
    code, out, summary = loadsim_run(tmp_path, s, "--run-time", "8s")
    assert code == 0, out  # smoke's SLOs: no failures, reconciliation
    assert summary["retries"]["total"] > 0 and summary["retries"]["recovered"] > 0
    assert summary["total"]["failures"] == 0 and summary["reconciliation"]["ok"]
    # Locust's own table shows the attempts: first tries under the step, retries apart
    assert "(retry)" in (tmp_path / "report" / "locust_stats.csv").read_text()


def test_without_retries_the_same_errors_are_failures(tmp_path: Path) -> None:
    s = scenario(tmp_path, 'extends = "smoke"\n[target.mock]\nerror_rate = "0.2:503"\n')
    code, out, summary = loadsim_run(tmp_path, s, "--run-time", "6s")
    assert code == 1, out
    assert summary["total"]["failures"] > 0 and summary["retries"]["total"] == 0
    assert any(e["kind"] == "status 503" for e in summary["errors"])


def test_outage_storm_drains_with_nothing_lost_or_duplicated(tmp_path: Path) -> None:
    s = scenario(tmp_path, """extends = "outage"
[load]
users = 40
rate = 5
run_time = "22s"
[client.offline]
share = 0.0
requeue_after = "1s"
[target.mock]
outage_at = "4s"
outage_for = "5s"
outage_status = 503
""")
    code, out, summary = loadsim_run(tmp_path, s, timeout=180)
    assert code in (0, 1), out
    queue = summary["offline_queue"]
    assert queue["requeued"] > 0 and summary["retries"]["total"] > 0, summary["retries"]
    assert queue["max_depth"] > 0 and queue["unsent"] == 0, queue
    assert summary["reconciliation"]["ok"], summary["reconciliation"]
    assert summary["total"]["failures"] == 0  # every request got through once the mock was back
