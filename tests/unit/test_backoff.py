"""The SDK's retry waits: exponential up to a cap, jittered within a band, Retry-After honoured."""

from __future__ import annotations

import random

import pytest

from simulator.loadtest.user import DeviceUser
from simulator.scenario import RetryConfig


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
