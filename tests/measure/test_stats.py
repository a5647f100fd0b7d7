"""Statistics against distributions with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from avbench.measure.stats import median_ci, summarize


def test_known_small_sample() -> None:
    s = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (s.n, s.median, s.mean) == (5, 3.0, 3.0)
    assert s.std == pytest.approx(np.sqrt(2.5))
    assert s.iqr == pytest.approx(2.0)
    assert s.p90 == pytest.approx(4.6) and s.p99 == pytest.approx(4.96)
    assert s.cv == pytest.approx(np.sqrt(2.5) / 3)


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
