"""The timed part of a run on pipelines of known cost: outer clock, warm-up record, the cap."""

from __future__ import annotations

import logging
import re

import pytest
import torch
from omegaconf import OmegaConf

from avbench.config import BenchConfig
from avbench.phases.timing import time_pipeline
from avbench.pipelines.base import State
from avbench.pipelines.calibration import CalibrationPipeline, busy_wait_ms


class HiddenWork(CalibrationPipeline):
    """A pipeline that works before its first stage: no stage, nor the total, sees it."""

    def initial_state(self, audio: torch.Tensor) -> State:
        busy_wait_ms(50.0)
        return super().initial_state(audio)


def bench(**overrides):
    """Every call profiled (``calls_per_sample=1``) unless a test asks for batches: how
    long a stage clock reading takes depends on the machine, so the automatic choice is
    tested on its own."""
    return OmegaConf.structured(BenchConfig(**{"warmup": 1, "min_repeats": 3,
                                               "min_time_s": 0.0, "monitor_interval_s": 0.05,
                                               "calls_per_sample": 1} | overrides))


def test_the_outer_clock_sees_work_outside_the_stages() -> None:
    hidden = time_pipeline(HiddenWork({"a": 5.0}), torch.zeros(100), bench())
    # 50 ms of hidden work on a ~5 ms total: the outer clock says so, the stages cannot.
    assert hidden.harness["harness.outer_vs_total_pct"] > 100.0
    assert len(hidden.outer_ms) == hidden.times.repeats == 3
    plain = time_pipeline(CalibrationPipeline({"a": 10.0}), torch.zeros(100), bench())
    outer, total = plain.outer_ms, plain.times.samples_ms["total"]
    assert all(o >= t for o, t in zip(outer, total, strict=True))  # it encloses the call
    assert plain.harness["harness.outer_vs_total_pct"] >= 0.0


def test_warm_up_calls_are_recorded() -> None:
    timed = time_pipeline(CalibrationPipeline({"a": 2.0}), torch.zeros(100),
                          bench(warmup=3, warmup_max=9, warmup_settle_pct=50.0))
    calls = int(timed.tags["bench.warmup_calls"])
    assert 3 <= calls <= 9 and calls == 1 + timed.times.warmup.calls  # the cold call counts
    assert timed.tags["bench.warmup_settled"] in ("true", "false")
    off = time_pipeline(CalibrationPipeline({"a": 2.0}), torch.zeros(100), bench(warmup=0))
    assert off.tags["bench.warmup_calls"] == "1"
    assert off.tags["bench.warmup_settled"] == "unchecked"


def test_the_repeat_cap_is_warned_about_and_tagged(caplog: pytest.LogCaptureFixture,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with caplog.at_level(logging.WARNING, logger="avbench.phases.timing"):
        timed = time_pipeline(CalibrationPipeline({"a": 2.0}), torch.zeros(100),
                              bench(min_time_s=30.0, max_repeats=4))
    assert timed.times.repeats == 4 and timed.tags["bench.capped_by_max_repeats"] == "true"
    assert "bench.max_repeats=4 stopped the run" in caplog.text
    assert "short of bench.min_time_s=30 s" in caplog.text
    assert "4/4" in capsys.readouterr().out  # the bar's target is the real count


def test_the_progress_bar_shows_the_real_target(capsys: pytest.CaptureFixture[str]) -> None:
    timed = time_pipeline(CalibrationPipeline({"a": 2.0}), torch.zeros(100),
                          bench(min_repeats=2, min_time_s=0.05, max_repeats=200))
    (bar,) = [line for line in capsys.readouterr().out.splitlines()
              if line.strip().startswith("repeats ")]
    count = timed.times.repeats
    assert count > 2 and re.search(r"\b(\d+)/(\d+)\b", bar).groups() == (str(count),) * 2
    assert timed.tags["bench.capped_by_max_repeats"] == "false"


def test_a_call_too_short_for_its_clock_is_timed_in_batches() -> None:
    """A stage of no work: a profiled call's clock (a memory window per mark) costs far more
    than the call, so the samples are batches of calls under one outer clock, each long
    enough that max_repeats / 2 of them fill min_time_s (here 5 ms: many calls)."""
    timed = time_pipeline(CalibrationPipeline({"a": 0.0}), torch.zeros(100),
                          bench(calls_per_sample=None, min_repeats=5, min_time_s=0.05,
                                max_repeats=20))
    times, harness = timed.times, timed.harness
    assert timed.tags["bench.batched"] == "true" and int(timed.tags["bench.loops"]) > 1
    assert times.loops == int(timed.tags["bench.loops"]) and times.repeats >= 5
    # The batch's clock costs a small share of it; the profiled call's clock a large one.
    assert harness["harness.timer_overhead_pct"] < harness["harness.stage_clock_pct"] / 10
    assert harness["harness.clock_ns"] > 0
    # Stage figures still come from a profiled call per sample, and total is per call.
    assert len(times.samples_ms["a"]) == len(timed.outer_ms) == times.repeats
    assert 0 < max(times.samples_ms["total"]) < 50.0


def test_calls_per_sample_fixes_the_batch() -> None:
    timed = time_pipeline(CalibrationPipeline({"a": 0.5}), torch.zeros(100),
                          bench(calls_per_sample=7))
    assert timed.times.loops == 7 and timed.tags["bench.batched"] == "true"
    # Seven calls of at least 0.5 ms each per sample: the per-call figure is at least that.
    assert min(timed.times.samples_ms["total"]) >= 0.5
    with pytest.raises(ValueError, match="calls_per_sample"):
        time_pipeline(CalibrationPipeline({"a": 0.5}), torch.zeros(100),
                      bench(calls_per_sample=0))


def test_only_compiled_triton_kernels_are_tuned_in_the_prepare_phase() -> None:
    from avbench.phases.prepare import tunes_kernels

    assert tunes_kernels("triton", torch.device("cuda", 0))
    assert not tunes_kernels("triton", torch.device("cpu"))  # the interpreter tunes nothing
    assert not tunes_kernels("torch", torch.device("cuda", 0))


def test_a_cpu_run_has_no_device_memory_figures_and_says_how_it_measured() -> None:
    from avbench.measure import memory

    timed = time_pipeline(CalibrationPipeline({"a": 1.0}), torch.zeros(100), bench())
    assert timed.device_memory == {}
    assert timed.memory_method == memory.tracker(torch.device("cpu")).method
