"""Histogram percentiles against exact ones from the raw samples; merging; Locust's rounding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.report.histogram import ERROR, PERCENTILES, Histogram


def exact(values: np.ndarray, p: float) -> float:
    """The nearest-rank percentile: the smallest sample with at least p% of samples at or below it."""
    s = np.sort(values)
    return float(s[max(1, math.ceil(p / 100 * len(s))) - 1])


@pytest.mark.parametrize("dist", ["lognormal", "uniform", "bimodal", "constant"])
def test_percentiles_within_one_percent_of_exact(dist: str) -> None:
    rng = np.random.default_rng(42)
    n = 50_000
    values = {
        "lognormal": rng.lognormal(math.log(0.04), 1.0, n),
        "uniform": rng.uniform(0.0002, 2.0, n),
        "bimodal": np.concatenate([rng.normal(0.005, 0.0005, n // 2), rng.normal(1.5, 0.1, n // 2)]),
        "constant": np.full(n, 0.123),
    }[dist].clip(0.0001, 59.0)
    h = Histogram.of(values.tolist())
    for _, p in (*PERCENTILES, ("p100", 100.0)):
        want = exact(values, p)
        assert abs(h.percentile(p) - want) <= ERROR * want, (p, h.percentile(p), want)
    assert h.count == n and h.max == values.max() and h.min == values.min()


def test_fixed_123ms_reads_back_as_123ms_where_locust_says_120() -> None:
    """Locust rounds response times to two significant figures; ours keep 1%."""
    from locust.stats import StatsEntry

    h = Histogram.of([0.123] * 1000)
    assert h.percentiles()["p99_ms"] == pytest.approx(123, rel=0.001)

    class _Stats:  # the minimum StatsEntry needs to record
        use_response_times_cache = False
        start_time = 0.0
        last_request_timestamp = 0.0

    entry = StatsEntry(_Stats(), "events", "POST")  # type: ignore[arg-type]
    for _ in range(1000):
        entry.log(123, 0)
    assert entry.get_response_time_percentile(0.99) == 120  # off by 2.4%


def test_merge_equals_one_histogram_of_all_samples() -> None:
    rng = np.random.default_rng(7)
    parts = [rng.lognormal(math.log(0.02), 0.8, 5000).tolist() for _ in range(3)]
    merged = Histogram()
    for part in parts:
        shipped = Histogram.from_dict(Histogram.of(part).to_dict())  # as a worker sends it
        merged.merge(shipped)
    whole = Histogram.of([v for part in parts for v in part])
    assert merged.counts == whole.counts
    assert merged.percentiles() == whole.percentiles()


def test_out_of_range_values_keep_exact_extremes() -> None:
    h = Histogram.of([0.00001, 0.05, 120.0])
    assert h.percentile(0) == 0.00001 and h.percentile(100) == 120.0 and h.max == 120.0


def test_empty_histogram_reports_zeros() -> None:
    assert Histogram().percentiles() == {
        "p50_ms": 0.0,
        "p90_ms": 0.0,
        "p95_ms": 0.0,
        "p99_ms": 0.0,
        "p999_ms": 0.0,
        "max_ms": 0.0,
        "mean_ms": 0.0,
    }
    assert Histogram.from_dict(Histogram().to_dict()).count == 0
