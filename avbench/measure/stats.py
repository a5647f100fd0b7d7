"""Summary statistics of timing samples (numpy/scipy; nothing hand-rolled that scipy has).

A statistic is computed only from a sample that supports it (``SampleRule``, thresholds from
the config node ``validity``):

- a 95 % confidence interval of the median needs ``min_samples`` observations (default 5);
- a percentile pXX needs ``n * (1 - XX/100) >= tail`` observations (default tail 1: p50
  needs 2, p90 10, p95 20, p99 100). Below that, the sample holds on average no observation
  above the percentile, so the "p99" of 16 samples is their maximum (and equals the p99.9).

What a sample does not support is left out and described (``Omitted``, tag
``stats.omitted``), never filled with a figure the sample cannot give.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PERCENTILES = (50, 90, 95, 99)
# Above this many samples the median's interval comes from order statistics, not the
# bootstrap (which costs n_resamples medians of the whole series: 30 s for 200,000).
BOOTSTRAP_MAX_SAMPLES = 10_000


@dataclass(frozen=True)
class SampleRule:
    """What a sample of ``n`` observations supports (``validity.min_samples`` and
    ``validity.percentile_tail``)."""

    min_samples: int = 5  # observations a confidence interval needs
    tail: float = 1.0  # observations expected above a percentile for it to be logged

    @classmethod
    def from_config(cls, validity: Any) -> SampleRule:
        """From the ``validity`` config node (anything with those attributes)."""
        return cls(int(validity.min_samples), float(validity.percentile_tail))

    def needed(self, percentile: float) -> int:
        """Observations percentile ``percentile`` (0 <= p < 100) needs: tail / (1 - p/100),
        rounded up (p50 2, p90 10, p95 20, p99 100 with tail 1)."""
        if not 0 <= percentile < 100:
            raise ValueError(f"a percentile lies in [0, 100), got {percentile}")
        # Rounded first: 100 / (100 - 99.9) is 1000.00000000006 in floating point.
        return max(1, math.ceil(round(self.tail * 100.0 / (100.0 - percentile), 6)))

    def supports_percentile(self, percentile: float, n: int) -> bool:
        return n >= self.needed(percentile)

    def supports_ci(self, n: int) -> bool:
        return n >= self.min_samples


DEFAULT_RULE = SampleRule()


@dataclass(frozen=True)
class Omitted:
    """Statistics of one series left out: ``stats`` (e.g. ``("p95", "p99")`` or ``("ci",)``)
    with the observations each needs, of ``n`` observed."""

    name: str  # the series, e.g. "latency_ms", "stage_ms.vocoder", "rtf"
    stats: tuple[str, ...]
    needed: tuple[int, ...]
    n: int


def omitted_text(items: Iterable[Omitted]) -> str:
    """One clause per group of series that lack the same statistics at the same count, e.g.
    ``p90, p95, p99 of latency_ms, stage_ms.vocoder: 5 < 10, 20, 100 samples; 95 % CI of rtf:
    2 < 5 samples``."""
    groups: dict[tuple[tuple[str, ...], tuple[int, ...], int], list[str]] = {}
    for item in items:
        groups.setdefault((item.stats, item.needed, item.n), []).append(item.name)
    clauses = []
    for (names, needed, n), series in groups.items():
        label = ", ".join("95 % CI" if s == "ci" else s for s in names)
        clauses.append(f"{label} of {', '.join(dict.fromkeys(series))}: {n} < "
                       f"{', '.join(str(k) for k in needed)} samples")
    return "; ".join(clauses)


@dataclass(frozen=True)
class SampleStats:
    """Statistics of one series of samples (e.g. a stage's per-repeat milliseconds); a
    percentile or the interval the sample does not support is None (see ``omitted``)."""

    n: int
    median: float
    mean: float
    std: float
    iqr: float
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    cv: float
    ci_low: float | None
    ci_high: float | None
    omitted: tuple[str, ...] = field(default=())  # e.g. ("p95", "p99", "ci")
    omitted_needed: tuple[int, ...] = field(default=())

    def as_dict(self) -> dict[str, float]:
        """The statistics the sample supports, by name."""
        return {key: float(getattr(self, key)) for key in
                ("n", "median", "mean", "std", "iqr", "p50", "p90", "p95", "p99", "cv",
                 "ci_low", "ci_high") if getattr(self, key) is not None}

    def omission(self, name: str) -> Omitted | None:
        """What this series left out, under the series name ``name`` (None: nothing)."""
        return Omitted(name, self.omitted, self.omitted_needed, self.n) if self.omitted else None


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
    from scipy import stats  # here: importing scipy.stats costs ~1 s a process

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        result = stats.bootstrap((samples,), np.median, confidence_level=confidence,
                                 n_resamples=n_resamples, method="percentile",
                                 rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _order_statistic_ci(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    from scipy import stats

    n = samples.size
    tail = (1.0 - confidence) / 2.0
    low_rank = max(int(stats.binom.ppf(tail, n, 0.5)) - 1, 0)
    high_rank = min(int(stats.binom.isf(tail, n, 0.5)), n - 1)
    ordered = np.partition(samples, (low_rank, high_rank))
    return float(ordered[low_rank]), float(ordered[high_rank])


def summarize(values: list[float] | np.ndarray, rule: SampleRule = DEFAULT_RULE
              ) -> SampleStats:
    """Median, mean, std (ddof=1), IQR, CV, and what ``rule`` says the sample supports of
    the percentiles and the median's 95 % bootstrap CI."""
    samples = np.asarray(values, dtype=np.float64)
    if samples.size == 0:
        raise ValueError("cannot summarise an empty series of samples")
    n = int(samples.size)
    points = dict(zip(PERCENTILES, np.percentile(samples, PERCENTILES), strict=True))
    kept = {q: float(v) if rule.supports_percentile(q, n) else None for q, v in points.items()}
    omitted = [(f"p{q}", rule.needed(q)) for q in PERCENTILES if kept[q] is None]
    mean = float(np.mean(samples))
    std = float(np.std(samples, ddof=1)) if n > 1 else 0.0
    ci_low = ci_high = None
    if rule.supports_ci(n):
        ci_low, ci_high = median_ci(samples)
    else:
        omitted.append(("ci", rule.min_samples))
    q75, q25 = np.percentile(samples, [75, 25])
    return SampleStats(
        n=n, median=float(np.median(samples)), mean=mean, std=std,
        iqr=float(q75 - q25), p50=kept[50], p90=kept[90], p95=kept[95], p99=kept[99],
        cv=std / mean if mean > 0 else float("nan"), ci_low=ci_low, ci_high=ci_high,
        omitted=tuple(name for name, _ in omitted), omitted_needed=tuple(k for _, k in omitted),
    )


def percentiles(name: str, values: list[float] | np.ndarray, rule: SampleRule = DEFAULT_RULE,
                wanted: tuple[int, ...] = PERCENTILES, method: str = "linear"
                ) -> tuple[dict[str, float], Omitted | None]:
    """``{"p50": ..., "p99": ...}`` of the series ``name`` for the percentiles the sample
    supports, and what it left out (None: nothing). ``method``: ``linear`` interpolation, or
    ``rank``, LoadGen's definition (the value at rank floor(n q) of the sorted sample)."""
    n = len(values)
    if n == 0:
        return {}, None
    if method == "rank":
        ordered = np.sort(np.asarray(values, dtype=float))
        points = [ordered[min(int(n * q / 100.0), n - 1)] for q in wanted]
    else:
        points = np.percentile(np.asarray(values, dtype=float), wanted)
    kept = {f"p{q}": float(v) for q, v in zip(wanted, points, strict=True)
            if rule.supports_percentile(q, n)}
    left = [q for q in wanted if not rule.supports_percentile(q, n)]
    if not left:
        return kept, None
    return kept, Omitted(name, tuple(f"p{q}" for q in left), tuple(rule.needed(q) for q in left),
                         n)


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
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        result = stats.bootstrap((baseline, candidate), _median_ratio, paired=False,
                                 vectorized=True, confidence_level=confidence,
                                 n_resamples=n_resamples, method="percentile",
                                 rng=np.random.default_rng(seed))
    interval = result.confidence_interval
    return Speedup(ratio, float(interval.low), float(interval.high), confidence)
