"""Warm-up and timed repeats of a pipeline; raw per-repeat stage times are kept."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

TOTAL = "total"


@dataclass
class StageTimes:
    """Per-repeat milliseconds for each stage and for ``total``, in call order."""

    stages: list[str]
    samples_ms: dict[str, list[float]] = field(default_factory=dict)

    def record(self, stage_name: str, elapsed_ms: float) -> None:
        self.samples_ms.setdefault(stage_name, []).append(float(elapsed_ms))

    @property
    def repeats(self) -> int:
        return len(self.samples_ms.get(TOTAL, []))

    def median_ms(self) -> dict[str, float]:
        """Median of every stage and of ``total``."""
        return {name: float(np.median(values)) for name, values in self.samples_ms.items()}

    def percentages(self) -> dict[str, float]:
        """Each stage's median as a share of the median total, in percent."""
        medians = self.median_ms()
        total = medians[TOTAL]
        return {name: 100.0 * medians[name] / total for name in self.stages} | {TOTAL: 100.0}

    def sum_vs_total_pct(self) -> float:
        """How far the per-repeat sum of stages is from the measured total (median, %)."""
        totals = np.asarray(self.samples_ms[TOTAL])
        sums = np.sum([self.samples_ms[name] for name in self.stages], axis=0)
        return float(np.median(np.abs(sums - totals) / totals) * 100.0)

    def rows(self) -> list[dict[str, float]]:
        """One dict per repeat: {repeat, <stage>_ms..., total_ms}."""
        names = [*self.stages, TOTAL]
        return [
            {"repeat": i, **{f"{n}_ms": self.samples_ms[n][i] for n in names}}
            for i in range(self.repeats)
        ]


@dataclass(frozen=True)
class RepeatPolicy:
    """When to stop warming up and when to stop timing."""

    warmup: int = 1
    warmup_s: float = 0.0
    min_repeats: int = 5
    min_time_s: float = 0.0
    max_repeats: int = 100

    def __post_init__(self) -> None:
        if self.min_repeats < 1:
            raise ValueError(f"bench.min_repeats must be at least 1, got {self.min_repeats}")
        if self.max_repeats < self.min_repeats:
            raise ValueError(f"bench.max_repeats ({self.max_repeats}) is below "
                             f"bench.min_repeats ({self.min_repeats})")
        if self.warmup < 0 or self.warmup_s < 0 or self.min_time_s < 0:
            raise ValueError("bench.warmup, bench.warmup_s and bench.min_time_s must be >= 0")

    def expected_repeats(self, first_total_ms: float) -> int:
        """Estimate of how many repeats the time floor will need, for progress display."""
        by_time = int(self.min_time_s * 1000 / first_total_ms) + 1 if first_total_ms > 0 else 0
        return min(self.max_repeats, max(self.min_repeats, by_time))


def repeat(
    run: Callable[[Callable[[str, float], None] | None], object],
    stages: list[str],
    policy: RepeatPolicy,
    on_repeat: Callable[[int, int], None] | None = None,
) -> StageTimes:
    """Warm up with ``run(None)``, then time ``run(callback)`` adaptively.

    Warm-up runs until both ``policy.warmup`` runs and ``policy.warmup_s``
    seconds are done. Timed repeats go on until both ``min_repeats`` and
    ``min_time_s`` (sum of measured totals) are met, capped at ``max_repeats``.
    ``run`` takes the profiling callback and runs the pipeline once.
    """
    warm_start = time.perf_counter()
    done = 0
    while done < policy.warmup or time.perf_counter() - warm_start < policy.warmup_s:
        run(None)
        done += 1
    times = StageTimes(stages=list(stages))
    count = 0
    while True:
        run(times.record)
        count += 1
        missing = [n for n in [*stages, TOTAL] if len(times.samples_ms.get(n, [])) != count]
        if missing:
            raise RuntimeError(f"the pipeline did not report stages {missing} on every repeat")
        if on_repeat is not None:
            on_repeat(count, max(count, policy.expected_repeats(times.samples_ms[TOTAL][0])))
        timed_s = sum(times.samples_ms[TOTAL]) / 1000
        enough = count >= policy.min_repeats and timed_s >= policy.min_time_s
        if enough or count >= policy.max_repeats:
            break
    return times
