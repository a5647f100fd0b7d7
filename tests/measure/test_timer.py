"""Warm-up, adaptive repeats and the statistics kept from them."""

from __future__ import annotations

import pytest
import torch

from avbench.measure.stats import SampleRule
from avbench.measure.timer import (
    RepeatPolicy,
    StageTimes,
    autorange,
    batch_target_ns,
    needs_batches,
    region_cost_ns,
    repeat,
    warm_up,
)
from avbench.metrics.perf import perf_metrics
from tests.measure.fake_clock import KnownCostPipeline


def runner(pipe, calls: list[bool]):
    def run(callback):
        calls.append(callback is not None)
        return pipe.run(torch.ones(1), profiling_callback=callback)

    return run


def test_repeat_keeps_raw_samples_and_skips_warmup() -> None:
    pipe = KnownCostPipeline({"a": 2.0, "b": 1.0})
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
    pipe = KnownCostPipeline({"a": 10.0})
    calls: list[bool] = []
    times = repeat(runner(pipe, calls), pipe.stage_names,
                   RepeatPolicy(warmup=0, min_repeats=2, min_time_s=0.1, max_repeats=50))
    # 10 ms a run: the 0.1 s floor needs 10 runs, far more than min_repeats, and no more.
    assert times.repeats == 10 and times.samples_ms["total"] == [10.0] * 10
    assert not times.capped


def test_max_repeats_caps_and_min_repeats_floors() -> None:
    pipe = KnownCostPipeline({"a": 5.0})
    capped = repeat(runner(pipe, []), pipe.stage_names,
                    RepeatPolicy(warmup=0, min_repeats=2, min_time_s=60, max_repeats=4))
    assert capped.repeats == 4
    floored = repeat(runner(pipe, []), pipe.stage_names,
                     RepeatPolicy(warmup=0, min_repeats=6, min_time_s=0.001, max_repeats=10))
    assert floored.repeats == 6


def test_warmup_by_time() -> None:
    costs = Costs([10.0])
    warm = warm_up(costs.run, RepeatPolicy(warmup=1, warmup_s=0.08, min_repeats=1,
                                           max_repeats=1), clock_ns=costs.clock_ns)
    assert warm.calls == costs.calls == 8  # 8 calls of 10 ms reach the 0.08 s floor


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
    omitted: list = []
    metrics = perf_metrics(times, 2.0, SampleRule(min_samples=3, tail=0.1), omitted)
    assert metrics["total_ms"] == 400.0
    assert metrics["rtf"] == pytest.approx(0.2)
    assert metrics["asps"] == pytest.approx(5.0)
    assert metrics["stage_ms.a"] == 110.0
    assert metrics["stage_pct.b"] == pytest.approx(72.5)
    assert metrics["sum_vs_total_pct"] == 0.0
    assert metrics["latency_ms.p50"] == 400.0
    assert metrics["rtf.cv"] == 0.0 and metrics["rtf.ci_low"] == metrics["rtf.ci_high"] == 0.2
    assert metrics["stage_ms.a.p90"] == pytest.approx(118.0)  # 3 * 0.1 >= 0.1
    assert metrics["stage_ms.a.iqr"] == pytest.approx(10.0)
    # p99 needs 10 samples at tail 0.1: left out, and said so.
    assert "latency_ms.p99" not in metrics and "stage_ms.a.p99" not in metrics
    assert [(o.name, o.stats) for o in omitted] == [("latency_ms", ("p99",)),
                                                    ("stage_ms.a", ("p99",)),
                                                    ("stage_ms.b", ("p99",))]


def test_perf_metrics_log_no_interval_from_fewer_than_five_repeats() -> None:
    times = StageTimes(stages=["a"])
    for ms in (100.0, 120.0, 110.0, 105.0):
        times.record("a", ms)
        times.record("total", ms)
    omitted: list = []
    metrics = perf_metrics(times, 1.0, omitted=omitted)
    assert not {"rtf.ci_low", "rtf.ci_high", "stage_ms.a.ci_low", "latency_ms.p90"} & set(metrics)
    assert metrics["rtf.cv"] > 0 and metrics["latency_ms.p50"] == pytest.approx(107.5)
    assert ("rtf", ("ci",), (5,), 4) in [(o.name, o.stats, o.needed, o.n) for o in omitted]
    times.record("a", 101.0)
    times.record("total", 101.0)
    assert "rtf.ci_low" in perf_metrics(times, 1.0)  # five samples: the interval is logged


class Costs:
    """A clock that only the calls move: call n costs ``costs_ms[n]`` (the last one after),
    so warm-up decisions are tested without depending on how busy the machine is."""

    def __init__(self, costs_ms: list[float]) -> None:
        self.costs_ms = costs_ms
        self.now_ns = 0
        self.calls = 0

    def clock_ns(self) -> int:
        return self.now_ns

    def run(self, callback) -> None:
        self.now_ns += int(1e6 * self.costs_ms[min(self.calls, len(self.costs_ms) - 1)])
        self.calls += 1


def test_settled_needs_three_calls_within_the_tolerance() -> None:
    policy = RepeatPolicy(settle_pct=5.0)
    assert policy.settled([50.0, 10.0, 10.2, 9.9])
    assert not policy.settled([10.0, 12.0, 10.0])
    assert not policy.settled([10.0, 10.0])


def test_warm_up_goes_on_until_the_time_per_call_settles() -> None:
    # Four slow calls (the heap still growing), then a steady 10 ms.
    costs = Costs([60.0, 45.0, 30.0, 20.0, 10.0])
    warm = warm_up(costs.run, RepeatPolicy(warmup=1, warmup_max=30, settle_pct=5.0),
                   clock_ns=costs.clock_ns)
    # The first window of three steady calls ends at the 7th call.
    assert warm.calls == costs.calls == 7 and warm.settled is True
    assert warm.call_ms == (60.0, 45.0, 30.0, 20.0, 10.0, 10.0, 10.0)


def test_warm_up_stops_at_its_cap_when_the_time_never_settles() -> None:
    costs = Costs([5.0, 20.0] * 10)
    warm = warm_up(costs.run, RepeatPolicy(warmup=2, warmup_max=6, settle_pct=5.0),
                   clock_ns=costs.clock_ns)
    assert warm.calls == costs.calls == 6 and warm.settled is False


def test_warm_up_off_or_without_room_to_settle() -> None:
    costs = Costs([1.0])
    off = warm_up(costs.run, RepeatPolicy(warmup=0, warmup_max=0), clock_ns=costs.clock_ns)
    assert off.calls == costs.calls == 0 and off.settled is None
    fixed = warm_up(costs.run, RepeatPolicy(warmup=3, warmup_max=3), clock_ns=costs.clock_ns)
    assert fixed.calls == 3 and fixed.settled is None
    by_time = warm_up(costs.run, RepeatPolicy(warmup=1, warmup_s=0.0105, warmup_max=2),
                      clock_ns=costs.clock_ns)
    assert by_time.calls == 11  # warmup_s is a floor the cap does not cut


def test_repeat_keeps_the_warm_up_record() -> None:
    pipe = KnownCostPipeline({"a": 1.0})
    times = repeat(runner(pipe, []), pipe.stage_names,
                   RepeatPolicy(warmup=2, warmup_max=2, min_repeats=2, max_repeats=2))
    assert times.warmup is not None and times.warmup.calls == 2 and not times.capped


def test_progress_target_follows_the_time_floor() -> None:
    pipe = KnownCostPipeline({"a": 5.0})
    progress: list[tuple[int, int]] = []
    times = repeat(runner(pipe, []), pipe.stage_names,
                   RepeatPolicy(warmup=0, min_repeats=2, min_time_s=0.1, max_repeats=60),
                   on_repeat=lambda done, total: progress.append((done, total)))
    assert [done for done, _ in progress] == list(range(1, times.repeats + 1))
    assert all(total >= done for done, total in progress)
    assert progress[-1] == (times.repeats, times.repeats)
    # A 0.1 s floor at 5 ms a run needs 20 runs, not min_repeats=2: the target says so at once.
    assert progress[0] == (1, 20) and times.repeats == 20
    assert not times.capped


def test_max_repeats_cutting_the_time_floor_is_marked() -> None:
    pipe = KnownCostPipeline({"a": 5.0})
    capped = repeat(runner(pipe, []), pipe.stage_names,
                    RepeatPolicy(warmup=0, min_repeats=2, min_time_s=60, max_repeats=3))
    assert capped.repeats == 3 and capped.capped


def test_autorange_finds_the_smallest_batch_over_the_target() -> None:
    """A fake batch timer (17 us a call): 1, 2, 5, 10, ... calls until the target is met."""
    tried: list[int] = []

    def time_batch(loops: int) -> float:
        tried.append(loops)
        return loops * 17_000.0

    assert autorange(time_batch, target_ns=1_000_000) == 100  # 50 calls: 0.85 ms < 1 ms
    assert tried == [1, 2, 5, 10, 20, 50, 100]
    assert autorange(lambda loops: 5e6 * loops, target_ns=1e6) == 1  # one call is enough
    assert autorange(lambda loops: 0.0, target_ns=1e6, max_loops=1000) == 1000  # no progress


def test_the_clock_bound_sizes_the_batch() -> None:
    # A 380 ns timed region costs at most 1 % of a batch of 38 us or more ...
    assert batch_target_ns(380.0, max_clock_pct=1.0) == pytest.approx(38_000.0)
    # ... and a batch is at least min_batch_ns long when the time floor asks for more.
    assert batch_target_ns(380.0, 1.0, min_batch_ns=60e6) == 60e6
    with pytest.raises(ValueError, match="max_clock_pct"):
        batch_target_ns(380.0, 0.0)
    # Batches when the stage clock of a profiled call would cost over 1 % of the call.
    assert needs_batches(call_ns=17_000, stage_clock_ns=360_000, max_clock_pct=1.0)
    assert not needs_batches(call_ns=2e9, stage_clock_ns=360_000, max_clock_pct=1.0)


def test_batched_repeats_count_every_call_towards_the_time_floor() -> None:
    """Each sample reports the per-call time of a batch of 100 calls of 1 ms: 0.1 s of
    timing per sample, so min_time_s=0.5 takes 5 samples, not 500."""
    def sample(callback) -> None:
        if callback is not None:
            callback("a", 1.0)
            callback("total", 1.0)

    times = repeat(sample, ["a"], RepeatPolicy(warmup=0, min_repeats=2, min_time_s=0.5,
                                               max_repeats=1000), loops=100)
    assert times.loops == 100 and times.repeats == 5 and not times.capped
    assert RepeatPolicy(min_repeats=2, min_time_s=0.5).expected_repeats([1.0], loops=100) == 5


def test_region_cost_reads_the_clock_it_is_given() -> None:
    ticks = iter(range(0, 10_000, 7))  # a fake clock: 7 ns between readings
    assert region_cost_ns(clock_ns=lambda: next(ticks), trials=11) == 7.0
