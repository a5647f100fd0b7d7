"""Statistics against distributions with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from avbench.measure.stats import (
    Omitted,
    SampleRule,
    median_ci,
    omitted_text,
    percentiles,
    summarize,
)


def test_known_small_sample() -> None:
    s = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (s.n, s.median, s.mean) == (5, 3.0, 3.0)
    assert s.std == pytest.approx(np.sqrt(2.5))
    assert s.iqr == pytest.approx(2.0)
    assert s.p50 == 3.0 and s.cv == pytest.approx(np.sqrt(2.5) / 3)
    # Five samples support the median's CI, not a p90 (10), p95 (20) or p99 (100).
    assert s.ci_low is not None and s.ci_low <= 3.0 <= s.ci_high
    assert (s.p90, s.p95, s.p99) == (None, None, None)
    assert (s.omitted, s.omitted_needed) == (("p90", "p95", "p99"), (10, 20, 100))
    every = summarize([1.0, 2.0, 3.0, 4.0, 5.0], SampleRule(min_samples=5, tail=0.05))
    assert every.p90 == pytest.approx(4.6) and every.p99 == pytest.approx(4.96)


def test_the_percentile_rule() -> None:
    """pXX needs n * (1 - XX/100) >= tail observations: at least one expected above it."""
    rule = SampleRule()
    assert [rule.needed(q) for q in (50, 90, 95, 99, 99.9)] == [2, 10, 20, 100, 1000]
    assert SampleRule(tail=3).needed(99) == 300 and SampleRule(tail=0.5).needed(50) == 1
    assert rule.supports_percentile(99, 100) and not rule.supports_percentile(99, 99)
    with pytest.raises(ValueError, match=r"\[0, 100\)"):
        rule.needed(100)


def test_no_interval_below_the_minimum_samples() -> None:
    four = summarize([1.0, 2.0, 3.0, 4.0])
    assert four.ci_low is None and four.ci_high is None and "ci" in four.omitted
    assert "ci_low" not in four.as_dict() and four.as_dict()["median"] == 2.5
    assert summarize([1.0, 2.0, 3.0, 4.0], SampleRule(min_samples=4)).ci_low is not None
    assert four.omission("rtf") == Omitted("rtf", ("p90", "p95", "p99", "ci"),
                                           (10, 20, 100, 5), 4)
    assert summarize(list(range(1, 101))).omission("x") is None  # 100 support them all


def test_percentiles_keep_what_the_sample_supports() -> None:
    kept, left = percentiles("latency_ms", [float(v) for v in range(16)])
    assert set(kept) == {"p50", "p90"} and left == Omitted("latency_ms", ("p95", "p99"),
                                                            (20, 100), 16)
    assert percentiles("x", []) == ({}, None)


def test_omitted_text_groups_series_with_the_same_gap() -> None:
    text = omitted_text([Omitted("latency_ms", ("p95", "p99"), (20, 100), 16),
                         Omitted("ttfa_ms", ("p95", "p99"), (20, 100), 16),
                         Omitted("rtf", ("ci",), (5,), 2)])
    assert text == ("p95, p99 of latency_ms, ttfa_ms: 16 < 20, 100 samples; "
                    "95 % CI of rtf: 2 < 5 samples")


def test_normal_distribution_percentiles_and_cv() -> None:
    rng = np.random.default_rng(1)
    s = summarize(rng.normal(100.0, 5.0, 200_000))
    assert s.median == pytest.approx(100.0, abs=0.1)
    assert s.std == pytest.approx(5.0, rel=0.01)
    assert s.cv == pytest.approx(0.05, rel=0.01)
    assert s.p90 == pytest.approx(100 + 1.2816 * 5, abs=0.1)
    assert s.p99 == pytest.approx(100 + 2.3263 * 5, abs=0.15)
    assert s.iqr == pytest.approx(2 * 0.6745 * 5, rel=0.02)


def test_bootstrap_ci_covers_the_true_median_at_about_95_percent() -> None:
    rng = np.random.default_rng(2)
    true_median = np.log(2.0)  # exponential(1)
    hits = 0
    trials = 200
    for trial in range(trials):
        low, high = median_ci(rng.exponential(1.0, 60), n_resamples=500, seed=trial)
        hits += low <= true_median <= high
    assert 0.88 <= hits / trials <= 0.99


def test_ci_width_shrinks_with_more_samples() -> None:
    rng = np.random.default_rng(3)
    small = np.subtract(*median_ci(rng.normal(0, 1, 20))[::-1])
    large = np.subtract(*median_ci(rng.normal(0, 1, 2000))[::-1])
    assert large < small / 4


def test_degenerate_and_empty_samples() -> None:
    assert median_ci(np.array([7.0])) == (7.0, 7.0)
    assert median_ci(np.array([3.0, 3.0, 3.0])) == (3.0, 3.0)
    assert summarize([4.0]).std == 0.0
    with pytest.raises(ValueError, match="empty"):
        summarize([])


def test_large_series_take_the_order_statistic_interval_close_to_the_bootstrap() -> None:
    from avbench.measure import stats as module

    rng = np.random.default_rng(4)
    samples = rng.exponential(1.0, module.BOOTSTRAP_MAX_SAMPLES)  # still bootstrapped
    boot = median_ci(samples)
    order = module._order_statistic_ci(samples, 0.95)
    width = boot[1] - boot[0]
    assert abs(order[0] - boot[0]) < 0.25 * width and abs(order[1] - boot[1]) < 0.25 * width
    bigger = np.concatenate([samples, samples[:1]])  # one over the limit: order statistics
    assert median_ci(bigger) == module._order_statistic_ci(bigger, 0.95)
