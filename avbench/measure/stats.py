"""Summary statistics of timing samples (numpy/scipy; nothing hand-rolled that scipy has)."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

PERCENTILES = (50, 90, 95, 99)
# Above this many samples the median's interval comes from order statistics, not the
# bootstrap (which costs n_resamples medians of the whole series: 30 s for 200,000).
BOOTSTRAP_MAX_SAMPLES = 10_000


@dataclass(frozen=True)
class SampleStats:
    """Statistics of one series of samples (e.g. a stage's per-repeat milliseconds)."""

    n: int
    median: float
    mean: float
    std: float
    iqr: float
    p50: float
    p90: float
    p95: float
    p99: float
    cv: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items()}


def median_ci(samples: np.ndarray, confidence: float = 0.95, n_resamples: int = 2000,
              seed: int = 0) -> tuple[float, float]:
    """Bootstrap confidence interval of the median (percentile method, seeded).

    With fewer than two samples, or all samples equal, the interval is the
    median itself: there is no spread to resample. Over ``BOOTSTRAP_MAX_SAMPLES`` it is
    the distribution-free order-statistic interval (the ranks a binomial(n, 1/2) puts
    around the middle), which the bootstrap converges to and which costs one sort.
    """
    median = float(np.median(samples))
    if samples.size < 2 or np.ptp(samples) == 0:
        return median, median
    if samples.size > BOOTSTRAP_MAX_SAMPLES:
        return _order_statistic_ci(samples, confidence)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        result = stats.bootstrap((samples,), np.median, confidence_level=confidence,
                                 n_resamples=n_resamples, method="percentile",
                                 rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _order_statistic_ci(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    n = samples.size
    tail = (1.0 - confidence) / 2.0
    low_rank = max(int(stats.binom.ppf(tail, n, 0.5)) - 1, 0)
    high_rank = min(int(stats.binom.isf(tail, n, 0.5)), n - 1)
    ordered = np.partition(samples, (low_rank, high_rank))
    return float(ordered[low_rank]), float(ordered[high_rank])


def summarize(values: list[float] | np.ndarray) -> SampleStats:
    """Median, mean, std (ddof=1), IQR, percentiles, CV and the median's 95% bootstrap CI."""
    samples = np.asarray(values, dtype=np.float64)
    if samples.size == 0:
        raise ValueError("cannot summarise an empty series of samples")
    p50, p90, p95, p99 = np.percentile(samples, PERCENTILES)
    mean = float(np.mean(samples))
    std = float(np.std(samples, ddof=1)) if samples.size > 1 else 0.0
    ci_low, ci_high = median_ci(samples)
    return SampleStats(
        n=int(samples.size), median=float(np.median(samples)), mean=mean, std=std,
        iqr=float(stats.iqr(samples)), p50=float(p50), p90=float(p90), p95=float(p95),
        p99=float(p99), cv=std / mean if mean > 0 else float("nan"),
        ci_low=ci_low, ci_high=ci_high,
    )


@dataclass(frozen=True)
class Speedup:
    """median(baseline) / median(candidate): > 1 means the candidate is faster."""

    ratio: float
    ci_low: float
    ci_high: float
    confidence: float


def _median_ratio(baseline: np.ndarray, candidate: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(baseline, axis=axis) / np.median(candidate, axis=axis)


def speedup(baseline_ms: np.ndarray, candidate_ms: np.ndarray, confidence: float = 0.95,
            n_resamples: int = 2000, seed: int = 0) -> Speedup:
    """Speed-up of the candidate over the baseline with a bootstrap CI (independent
    resampling of the two per-repeat samples, percentile method, seeded)."""
    baseline = np.asarray(baseline_ms, dtype=float)
    candidate = np.asarray(candidate_ms, dtype=float)
    ratio = float(_median_ratio(baseline, candidate))
    if np.ptp(baseline) == 0 and np.ptp(candidate) == 0:
        return Speedup(ratio, ratio, ratio, confidence)  # no spread to resample
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        result = stats.bootstrap((baseline, candidate), _median_ratio, paired=False,
                                 vectorized=True, confidence_level=confidence,
                                 n_resamples=n_resamples, method="percentile",
                                 rng=np.random.default_rng(seed))
    interval = result.confidence_interval
    return Speedup(ratio, float(interval.low), float(interval.high), confidence)
