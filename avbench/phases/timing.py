"""The timed part of task=pipeline: cold call, warm-up, adaptive repeats, telemetry, overhead.

Every timed call also runs inside an outer clock: synchronised before and after, read
around the whole ``pipe.run`` call. ``harness.outer_vs_total_pct`` (median over repeats of
how much longer the outer time is than the pipeline's own total) catches work done
outside the stage clock: a figure near zero says the stages account for the whole call.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from avbench import console
from avbench.measure import memory
from avbench.measure.allocator import minor_faults
from avbench.measure.clock import stage_clock
from avbench.measure.monitor import Monitor
from avbench.measure.timer import TOTAL, RepeatPolicy, StageTimes, repeat
from avbench.pipelines.base import Pipeline, PipelineOutput

log = logging.getLogger(__name__)


@dataclass
class TimedRun:
    times: StageTimes
    output: PipelineOutput
    first_call_s: float
    stage_memory_mb: dict[str, float]
    monitor: Monitor
    component_ms: dict[str, list[float]] = field(default_factory=dict)  # per timed repeat
    harness: dict[str, float] = field(default_factory=dict)
    memory_peak_mb: float = 0.0  # this run's own (see measure.memory), all its calls
    memory_method: str = ""
    memory_added_mb: float = 0.0  # the peak above what the process held at the run's start
    device_memory: dict[str, float] = field(default_factory=dict)  # CUDA: see memory
    outer_ms: list[float] = field(default_factory=list)  # the outer clock, per timed repeat
    tags: dict[str, str] = field(default_factory=dict)


def policy_from(bench: DictConfig) -> RepeatPolicy:
    """The cold first call is the first warm-up call; ``bench.warmup=0`` means no warm-up."""
    warmup = max(bench.warmup - 1, 0)
    warmup_max = max(bench.warmup_max - 1, warmup) if bench.warmup > 0 else 0
    return RepeatPolicy(warmup=warmup, warmup_s=bench.warmup_s, warmup_max=warmup_max,
                        settle_pct=bench.warmup_settle_pct, min_repeats=bench.min_repeats,
                        min_time_s=bench.min_time_s, max_repeats=bench.max_repeats)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_pipeline(pipe: Pipeline, audio: torch.Tensor, bench: DictConfig) -> TimedRun:
    """Cold call, then warm-up and adaptive timed repeats with the sampler running."""
    policy = policy_from(bench)
    device = pipe.device
    peaks = memory.tracker(device)
    peaks.start_run()  # what earlier runs of this process held is not this run's peak
    console.phase(3, "warm-up", f"cold call + {policy.warmup} run(s)"
                  + (f", at least {policy.warmup_s:g} s" if policy.warmup_s else "")
                  + (f", then until the time per call settles (at most {policy.warmup_max})"
                     if policy.warmup_max > policy.warmup and policy.settle_pct > 0 else ""))
    first_start = time.perf_counter()
    pipe.run(audio)
    _sync(device)
    first_call_s = time.perf_counter() - first_start

    console.phase(4, "repeats", f"{policy.min_repeats}..{policy.max_repeats} timed run(s), "
                  f"at least {policy.min_time_s:g} s")
    outputs: list[PipelineOutput] = []
    stage_memory: dict[str, float] = {}

    component_ms: dict[str, list[float]] = {}
    outer_ms: list[float] = []

    def run_once(callback: Any) -> None:
        _sync(device)
        start_ns = time.perf_counter_ns()
        output = pipe.run(audio, profiling_callback=callback)
        _sync(device)
        elapsed_ms = (time.perf_counter_ns() - start_ns) / 1e6
        if callback is not None:
            outer_ms.append(elapsed_ms)
            for name, mb in output.stage_memory_mb.items():
                stage_memory[name] = max(stage_memory.get(name, 0.0), mb)
            for name, ms in output.component_ms.items():
                component_ms.setdefault(name, []).append(ms)
        outputs[:] = [output]

    gpu_index = (device.index or 0) if device.type == "cuda" else None
    monitor = Monitor(bench.monitor_interval_s, gpu_index=gpu_index)
    faults_before = minor_faults()
    with console.repeat_progress(policy.min_repeats) as advance, monitor:
        times = repeat(run_once, pipe.stage_names, policy, on_repeat=advance)
    faults = (minor_faults() - faults_before) / max(times.repeats, 1)
    run = TimedRun(times, outputs[0], first_call_s, stage_memory, monitor, component_ms,
                   outer_ms=outer_ms, tags=run_tags(times, policy))
    run.harness["harness.minor_faults_per_run"] = faults
    run.harness["harness.outer_vs_total_pct"] = outer_vs_total_pct(outer_ms,
                                                                   times.samples_ms[TOTAL])
    run.harness |= timer_overhead(device, len(pipe.stages), times)
    if bench.overhead_check:
        run.harness |= overhead_side_by_side(pipe, audio, pairs=min(times.repeats, 5))
    _sync(device)
    run.memory_peak_mb, run.memory_method = peaks.run_peak(), peaks.method
    run.memory_added_mb = peaks.run_added()
    run.device_memory = memory.device_memory(device)
    return run


def outer_vs_total_pct(outer_ms: list[float], total_ms: list[float]) -> float:
    """Median over repeats of how much longer the outer clock's time is than the pipeline's
    own total, in percent: the share of a call that no stage accounts for."""
    outer, total = np.asarray(outer_ms, dtype=float), np.asarray(total_ms, dtype=float)
    return float(np.median((outer - total) / total) * 100.0)


def run_tags(times: StageTimes, policy: RepeatPolicy) -> dict[str, str]:
    """How many warm-up calls there were (the cold call included), whether their time settled,
    and whether max_repeats cut the repeats short of min_time_s (with a warning for each)."""
    warmup = times.warmup
    calls = 1 + (warmup.calls if warmup else 0)
    settled = warmup.settled if warmup else None
    if settled is False:
        log.warning("warm-up stopped at bench.warmup_max=%d calls before the time per call "
                    "settled within %g %%: the repeats may still include warm-up; raise "
                    "bench.warmup_max", calls, policy.settle_pct)
    timed_s = sum(times.samples_ms[TOTAL]) / 1000
    if times.capped:
        log.warning("bench.max_repeats=%d stopped the run after %.2f s of timed repeats, short "
                    "of bench.min_time_s=%g s: raise bench.max_repeats or lower "
                    "bench.min_time_s", policy.max_repeats, timed_s, policy.min_time_s)
    return {"bench.warmup_calls": str(calls),
            "bench.warmup_settled": "unchecked" if settled is None else str(settled).lower(),
            "bench.capped_by_max_repeats": str(times.capped).lower()}


def timer_overhead(device: torch.device, n_stages: int, times: StageTimes,
                   calls: int = 2000) -> dict[str, float]:
    """Cost of the stage clock itself: marks + a recording callback, as a share of a run."""
    clock = stage_clock(device)
    record = StageTimes(stages=["s"])
    clock.start()
    start_ns = time.perf_counter_ns()
    for _ in range(calls):
        elapsed = clock.mark("s")
        record.record("s", elapsed or 0.0)
        clock.restart_stage()
    per_mark_us = (time.perf_counter_ns() - start_ns) / calls / 1e3
    clock.finish()
    run_ms = float(np.median(times.samples_ms[TOTAL]))
    return {"harness.timer_us_per_stage": per_mark_us,
            "harness.timer_overhead_pct": 100.0 * per_mark_us * (n_stages + 1) / 1e3 / run_ms}


def overhead_side_by_side(pipe: Pipeline, audio: torch.Tensor, pairs: int) -> dict[str, float]:
    """Profiling on vs off on the same pipeline, interleaved so drift hits both alike."""
    with_ms, without_ms = [], []
    for _ in range(pairs):
        for callback, sink in ((None, without_ms), ((lambda *_: None), with_ms)):
            start = time.perf_counter_ns()
            pipe.run(audio, profiling_callback=callback)
            _sync(pipe.device)
            sink.append((time.perf_counter_ns() - start) / 1e6)
    off, on = float(np.median(without_ms)), float(np.median(with_ms))
    return {"harness.run_ms_profiling_off": off, "harness.run_ms_profiling_on": on,
            "harness.profiling_overhead_pct": 100.0 * (on - off) / off}
