"""Warm-up and timed repeats of a pipeline; raw per-repeat stage times are kept."""

from __future__ import annotations

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


def repeat(
    run: Callable[[Callable[[str, float], None] | None], object],
    stages: list[str],
    warmup: int,
    repeats: int,
    on_repeat: Callable[[int, int], None] | None = None,
) -> StageTimes:
    """Call ``run(None)`` ``warmup`` times untimed, then ``run(callback)`` ``repeats`` times.

    ``run`` takes the profiling callback and runs the pipeline once; the
    pipeline reports each stage and ``total`` to it.
    """
    if repeats < 1:
        raise ValueError(f"bench.repeats must be at least 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"bench.warmup must be 0 or more, got {warmup}")
    for _ in range(warmup):
        run(None)
    times = StageTimes(stages=list(stages))
    for index in range(repeats):
        run(times.record)
        if on_repeat is not None:
            on_repeat(index + 1, repeats)
    missing = [name for name in [*stages, TOTAL] if len(times.samples_ms.get(name, [])) != repeats]
    if missing:
        raise RuntimeError(f"the pipeline did not report stages {missing} on every repeat")
    return times
