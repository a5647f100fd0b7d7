"""Warm-up, repeats and the statistics kept from them."""

from __future__ import annotations

import pytest
import torch

from avbench.measure.timer import StageTimes, repeat
from avbench.metrics.perf import perf_metrics
from tests.pipelines.test_base import SleepyPipeline


def test_repeat_keeps_raw_samples_and_skips_warmup() -> None:
    pipe = SleepyPipeline({"a": 2.0, "b": 1.0})
    calls: list[bool] = []

    def run(callback):
        calls.append(callback is not None)
        return pipe.run(torch.ones(1), profiling_callback=callback)

    progress: list[int] = []
    times = repeat(run, pipe.stage_names, warmup=2, repeats=3,
                   on_repeat=lambda done, total: progress.append(done))
    assert calls == [False, False, True, True, True]
    assert progress == [1, 2, 3]
    assert times.repeats == 3
    assert {len(v) for v in times.samples_ms.values()} == {3}
    assert [row["repeat"] for row in times.rows()] == [0, 1, 2]
    assert set(times.rows()[0]) == {"repeat", "a_ms", "b_ms", "total_ms"}


def test_repeat_rejects_bad_counts() -> None:
    with pytest.raises(ValueError, match="repeats"):
        repeat(lambda cb: None, ["a"], warmup=0, repeats=0)
    with pytest.raises(ValueError, match="warmup"):
        repeat(lambda cb: None, ["a"], warmup=-1, repeats=1)


def test_repeat_detects_a_stage_that_was_not_reported() -> None:
    with pytest.raises(RuntimeError, match="did not report"):
        repeat(lambda cb: cb("a", 1.0), ["a", "b"], warmup=0, repeats=2)


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
    assert metrics["latency_ms_p50"] == 400.0
