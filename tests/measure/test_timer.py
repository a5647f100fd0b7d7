"""Warm-up, adaptive repeats and the statistics kept from them."""

from __future__ import annotations

import time

import pytest
import torch

from avbench.measure.timer import RepeatPolicy, StageTimes, repeat
from avbench.metrics.perf import perf_metrics
from tests.pipelines.test_base import SleepyPipeline


def runner(pipe, calls: list[bool]):
    def run(callback):
        calls.append(callback is not None)
        return pipe.run(torch.ones(1), profiling_callback=callback)

    return run


def test_repeat_keeps_raw_samples_and_skips_warmup() -> None:
    pipe = SleepyPipeline({"a": 2.0, "b": 1.0})
    calls: list[bool] = []
    progress: list[int] = []
    times = repeat(runner(pipe, calls), pipe.stage_names,
                   RepeatPolicy(warmup=2, min_repeats=3, max_repeats=3),
                   on_repeat=lambda done, total: progress.append(done))
    assert calls == [False, False, True, True, True]
    assert progress == [1, 2, 3]
    assert times.repeats == 3
    assert {len(v) for v in times.samples_ms.values()} == {3}
    assert [row["repeat"] for row in times.rows()] == [0, 1, 2]
    assert set(times.rows()[0]) == {"repeat", "a_ms", "b_ms", "total_ms"}


def test_adaptive_repeats_meet_the_time_floor() -> None:
    pipe = SleepyPipeline({"a": 10.0})
    calls: list[bool] = []
    times = repeat(runner(pipe, calls), pipe.stage_names,
                   RepeatPolicy(warmup=0, min_repeats=2, min_time_s=0.1, max_repeats=50))
    # 10 ms a run: the 0.1 s floor needs about 10 runs, far more than min_repeats.
    assert 8 <= times.repeats <= 11
    assert sum(times.samples_ms["total"]) >= 100.0
    assert sum(times.samples_ms["total"][:-1]) < 100.0  # stopped as soon as the floor was met


def test_max_repeats_caps_and_min_repeats_floors() -> None:
    pipe = SleepyPipeline({"a": 5.0})
    capped = repeat(runner(pipe, []), pipe.stage_names,
                    RepeatPolicy(warmup=0, min_repeats=2, min_time_s=60, max_repeats=4))
    assert capped.repeats == 4
    floored = repeat(runner(pipe, []), pipe.stage_names,
                     RepeatPolicy(warmup=0, min_repeats=6, min_time_s=0.001, max_repeats=10))
    assert floored.repeats == 6


def test_warmup_by_time() -> None:
    pipe = SleepyPipeline({"a": 10.0})
    calls: list[bool] = []
    start = time.perf_counter()
    repeat(runner(pipe, calls), pipe.stage_names,
           RepeatPolicy(warmup=1, warmup_s=0.08, min_repeats=1, max_repeats=1))
    warmups = calls.count(False)
    assert warmups >= 7 and time.perf_counter() - start >= 0.08


def test_policy_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="min_repeats"):
        RepeatPolicy(min_repeats=0)
    with pytest.raises(ValueError, match="max_repeats"):
        RepeatPolicy(min_repeats=5, max_repeats=2)
    with pytest.raises(ValueError, match="warmup"):
        RepeatPolicy(warmup=-1)


def test_repeat_detects_a_stage_that_was_not_reported() -> None:
    with pytest.raises(RuntimeError, match="did not report"):
        repeat(lambda cb: cb and cb("a", 1.0), ["a", "b"], RepeatPolicy(warmup=0, min_repeats=2))


def test_perf_metrics_from_known_samples() -> None:
    times = StageTimes(stages=["a", "b"])
    for a, b in [(100.0, 300.0), (120.0, 280.0), (110.0, 290.0)]:
        times.record("a", a)
        times.record("b", b)
        times.record("total", a + b)
    metrics = perf_metrics(times, audio_duration_s=2.0)
    assert metrics["total_ms"] == 400.0
    assert metrics["rtf"] == pytest.approx(0.2)
    assert metrics["asps"] == pytest.approx(5.0)
    assert metrics["stage_ms.a"] == 110.0
    assert metrics["stage_pct.b"] == pytest.approx(72.5)
    assert metrics["sum_vs_total_pct"] == 0.0
    assert metrics["latency_ms.p50"] == 400.0
    assert metrics["rtf.cv"] == 0.0 and metrics["rtf.ci_low"] == metrics["rtf.ci_high"] == 0.2
    assert metrics["stage_ms.a.p90"] == pytest.approx(118.0)
    assert metrics["stage_ms.a.iqr"] == pytest.approx(10.0)
