"""Warm-up and timed repeats of a pipeline; raw per-repeat stage times are kept.

Warm-up goes on until the per-call time settles: at least ``warmup`` calls and
``warmup_s`` seconds, then until the last ``SETTLE_WINDOW`` calls lie within
``settle_pct`` of their median, at most ``warmup_max`` calls. How many calls it
took, and whether it settled, is kept with the samples.

A call too short for its clock is timed in batches: ``autorange`` finds the number of
calls per sample (``loops``) whose batch the clock costs at most a given share of, the
way ``timeit.Timer.autorange`` and pyperf's loop calibration do; a sample then holds the
per-call time of its batch (``StageTimes.loops``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

TOTAL = "total"
SETTLE_WINDOW = 3  # warm-up calls whose spread decides that the per-call time has settled


@dataclass(frozen=True)
class WarmUp:
    """The warm-up calls (milliseconds each) and whether their time settled (None: the
    policy did not ask, e.g. ``warmup_max`` allows no call beyond the minimum)."""

    call_ms: tuple[float, ...]
    settled: bool | None

    @property
    def calls(self) -> int:
        return len(self.call_ms)


@dataclass
class StageTimes:
    """Per-repeat milliseconds for each stage and for ``total``, in call order."""

    stages: list[str]
    samples_ms: dict[str, list[float]] = field(default_factory=dict)
    warmup: WarmUp | None = None
    capped: bool = False  # max_repeats stopped the repeats before min_time_s was reached
    loops: int = 1  # calls per sample: each sample is the per-call time of a batch of them

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
    warmup_max: int = 0  # cap on warm-up calls while waiting to settle (<= warmup: no wait)
    settle_pct: float = 5.0

    def __post_init__(self) -> None:
        if self.min_repeats < 1:
            raise ValueError(f"bench.min_repeats must be at least 1, got {self.min_repeats}")
        if self.max_repeats < self.min_repeats:
            raise ValueError(f"bench.max_repeats ({self.max_repeats}) is below "
                             f"bench.min_repeats ({self.min_repeats})")
        if self.warmup < 0 or self.warmup_s < 0 or self.min_time_s < 0 or self.settle_pct < 0:
            raise ValueError("bench.warmup, bench.warmup_s, bench.warmup_settle_pct and "
                             "bench.min_time_s must be >= 0")

    def expected_repeats(self, totals_ms: list[float], loops: int = 1) -> int:
        """How many repeats the run will take, from the mean time of those done so far
        (``totals_ms`` per call, ``loops`` calls per repeat)."""
        mean_ms = loops * sum(totals_ms) / len(totals_ms) if totals_ms else 0.0
        by_time = math.ceil(self.min_time_s * 1000 / mean_ms) if mean_ms > 0 else 0
        return min(self.max_repeats, max(self.min_repeats, by_time, len(totals_ms)))

    def settled(self, call_ms: list[float]) -> bool:
        """The last ``SETTLE_WINDOW`` calls lie within ``settle_pct`` of their median."""
        if len(call_ms) < SETTLE_WINDOW:
            return False
        window = call_ms[-SETTLE_WINDOW:]
        return (max(window) - min(window)) <= self.settle_pct / 100 * float(np.median(window))


def warm_up(run: Callable[[None], object], policy: RepeatPolicy,
            clock_ns: Callable[[], int] = time.perf_counter_ns) -> WarmUp:
    """Call ``run(None)`` until the minimum (``warmup`` calls, ``warmup_s`` seconds) is done
    and the per-call time has settled, or ``warmup_max`` calls are done. ``clock_ns`` reads
    the time (nanoseconds)."""
    waits = policy.warmup_max > policy.warmup and policy.settle_pct > 0
    start_ns = clock_ns()
    call_ms: list[float] = []
    while True:
        minimum_done = (len(call_ms) >= policy.warmup
                        and clock_ns() - start_ns >= policy.warmup_s * 1e9)
        if minimum_done and (not waits or policy.settled(call_ms)
                             or len(call_ms) >= policy.warmup_max):
            break
        call_start = clock_ns()
        run(None)
        call_ms.append((clock_ns() - call_start) / 1e6)
    return WarmUp(tuple(call_ms), policy.settled(call_ms) if waits else None)


def repeat(
    run: Callable[[Callable[[str, float], None] | None], object],
    stages: list[str],
    policy: RepeatPolicy,
    on_repeat: Callable[[int, int], None] | None = None,
    warmup: WarmUp | None = None,
    loops: int = 1,
) -> StageTimes:
    """Warm up with ``run(None)`` (``warm_up``; skipped when ``warmup`` says it was done),
    then time ``run(callback)`` adaptively.

    Timed repeats go on until both ``min_repeats`` and ``min_time_s`` (sum of
    measured totals, times ``loops`` calls per repeat) are met, capped at
    ``max_repeats`` (``times.capped`` says when the cap stopped them short of
    ``min_time_s``). ``run`` takes the profiling callback and takes one sample: it
    reports every stage and ``total`` once (per call: a batched sample reports the
    per-call time of its batch). ``on_repeat(done, total)`` gets the expected number of
    repeats, and the final count on the last call.
    """
    times = StageTimes(stages=list(stages), warmup=warmup or warm_up(run, policy), loops=loops)
    count = 0
    while True:
        run(times.record)
        count += 1
        missing = [n for n in [*stages, TOTAL] if len(times.samples_ms.get(n, [])) != count]
        if missing:
            raise RuntimeError(f"the pipeline did not report stages {missing} on every repeat")
        timed_s = loops * sum(times.samples_ms[TOTAL]) / 1000
        enough = count >= policy.min_repeats and timed_s >= policy.min_time_s
        done = enough or count >= policy.max_repeats
        if on_repeat is not None:
            on_repeat(count, count if done else policy.expected_repeats(times.samples_ms[TOTAL],
                                                                         loops))
        if done:
            times.capped = timed_s < policy.min_time_s
            return times


def autorange(time_batch: Callable[[int], float], target_ns: float,
              max_loops: int = 10_000_000) -> int:
    """The smallest number of calls in 1, 2, 5, 10, 20, 50, ... whose batch takes at least
    ``target_ns`` (``time_batch(loops)`` times a batch, in ns), as ``timeit.Timer.autorange``
    does; at most ``max_loops``."""
    base = 1
    while True:
        for factor in (1, 2, 5):
            loops = base * factor
            if loops >= max_loops or time_batch(loops) >= target_ns:
                return min(loops, max_loops)
        base *= 10


def needs_batches(call_ns: float, stage_clock_ns: float, max_clock_pct: float) -> bool:
    """Whether a profiled call's stage clock (``stage_clock_ns`` per call) costs more than
    ``max_clock_pct`` % of the call (``call_ns``): then calls are timed in batches."""
    return stage_clock_ns > max_clock_pct / 100.0 * call_ns


def batch_target_ns(clock_ns: float, max_clock_pct: float, min_batch_ns: float = 0.0) -> float:
    """How long a batch must take for its clock (``clock_ns`` per timed region) to cost at
    most ``max_clock_pct`` % of it, and at least ``min_batch_ns``."""
    if max_clock_pct <= 0:
        raise ValueError(f"validity.max_clock_pct must be positive, got {max_clock_pct}")
    return max(clock_ns * 100.0 / max_clock_pct, min_batch_ns)


def region_cost_ns(sync: Callable[[], None] = lambda: None,
                   clock_ns: Callable[[], int] = time.perf_counter_ns, trials: int = 1001) -> float:
    """Median cost of an empty timed region (sync, read, sync, read): what timing a batch
    adds to it."""
    costs = []
    for _ in range(trials):
        sync()
        start = clock_ns()
        sync()
        costs.append(clock_ns() - start)
    return float(np.median(costs))
