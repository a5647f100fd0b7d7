"""The timed part of task=pipeline: cold call, warm-up, adaptive repeats, telemetry, overhead.

Every profiled call also runs inside an outer clock: synchronised before and after, read
around the whole ``pipe.run`` call. ``harness.outer_vs_total_pct`` (median over repeats of
how much longer the outer time is than the pipeline's own total) catches work done
outside the stage clock: a figure near zero says the stages account for the whole call.

A call so short that the stage clock would cost more than ``validity.max_clock_pct`` of it
is timed in batches (``Sampler``, ``plan_sampling``): each sample is a batch of calls under
one outer clock, reported per call, and one profiled call beside it gives the stage figures.
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
from avbench.measure.nvml import process_memory_mb
from avbench.measure.timer import (
    SETTLE_WINDOW,
    TOTAL,
    RepeatPolicy,
    StageTimes,
    WarmUp,
    autorange,
    batch_target_ns,
    needs_batches,
    region_cost_ns,
    repeat,
    warm_up,
)
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
    outer_ms: list[float] = field(default_factory=list)  # the outer clock, per profiled call
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


class Sampler:
    """Takes the samples of ``repeat``: ``sampler(None)`` is one unprofiled call (warm-up);
    ``sampler(record)`` one timed sample. With ``batched`` false a sample is one profiled
    call; with it true, a batch of ``loops`` unprofiled calls timed by one outer clock (the
    sample's ``total`` is its per-call time), then one profiled call for the stage figures."""

    def __init__(self, pipe: Pipeline, audio: torch.Tensor, loops: int = 1,
                 batched: bool = False) -> None:
        self.pipe, self.audio, self.loops, self.batched = pipe, audio, loops, batched
        self.output: PipelineOutput | None = None
        self.stage_memory: dict[str, float] = {}
        self.component_ms: dict[str, list[float]] = {}
        self.outer_ms: list[float] = []  # outer clock around each profiled call
        self.profiled_total_ms: list[float] = []  # the pipeline's own total of those calls

    def time_batch(self, loops: int) -> float:
        """Nanoseconds of ``loops`` unprofiled calls, synchronised before and after."""
        device = self.pipe.device
        _sync(device)
        start_ns = time.perf_counter_ns()
        for _ in range(loops):
            self.output = self.pipe.run(self.audio)
        _sync(device)
        return float(time.perf_counter_ns() - start_ns)

    def __call__(self, callback: Any) -> None:
        if callback is None:
            self.time_batch(1)
            return
        batch_ms = self.time_batch(self.loops) / 1e6 / self.loops if self.batched else None
        stage_ms: dict[str, float] = {}
        _sync(self.pipe.device)
        start_ns = time.perf_counter_ns()
        output = self.pipe.run(self.audio, profiling_callback=stage_ms.__setitem__)
        _sync(self.pipe.device)
        self.outer_ms.append((time.perf_counter_ns() - start_ns) / 1e6)
        self.profiled_total_ms.append(stage_ms[TOTAL])
        for name, mb in output.stage_memory_mb.items():
            self.stage_memory[name] = max(self.stage_memory.get(name, 0.0), mb)
        for name, ms in output.component_ms.items():
            self.component_ms.setdefault(name, []).append(ms)
        self.output = output
        for name, ms in stage_ms.items():
            callback(name, batch_ms if name == TOTAL and batch_ms is not None else ms)


def typical_call_ns(sampler: Sampler, warm: WarmUp) -> float:
    """A warm call's time: the median of the last warm-up calls, or (no warm-up) one call."""
    if warm.calls:
        return float(np.median(warm.call_ms[-SETTLE_WINDOW:])) * 1e6
    return sampler.time_batch(1)


def plan_sampling(sampler: Sampler, bench: DictConfig, per_mark_us: float,
                  max_clock_pct: float, call_ns: float) -> dict[str, float]:
    """Set ``sampler.loops``/``batched``: ``bench.calls_per_sample`` when given (1: profiled
    calls), else profiled calls while the stage clock costs at most ``max_clock_pct`` of a
    call (``call_ns``), batches sized by ``autorange`` otherwise. Returns the clock figures
    it used."""
    stages = len(sampler.pipe.stages)
    fixed = bench.get("calls_per_sample")
    if fixed is not None and int(fixed) < 1:
        raise ValueError(f"bench.calls_per_sample must be at least 1, got {fixed}")
    stage_clock_ns = per_mark_us * 1e3 * (stages + 1)
    sampler.batched = (int(fixed) > 1 if fixed is not None
                       else needs_batches(call_ns, stage_clock_ns, max_clock_pct))
    if not sampler.batched:
        return {}
    clock_ns = region_cost_ns(lambda: _sync(sampler.pipe.device))
    if fixed is not None:
        sampler.loops = int(fixed)
    else:
        # Long enough that half of max_repeats batches fill min_time_s: the time floor, not
        # the cap, ends the repeats even when the batches run a little faster than calibrated.
        min_batch_ns = 2 * bench.min_time_s * 1e9 / max(bench.max_repeats, 1)
        sampler.loops = autorange(sampler.time_batch,
                                  batch_target_ns(clock_ns, max_clock_pct, min_batch_ns))
    return {"harness.clock_ns": clock_ns,
            "harness.stage_clock_pct": 100.0 * stage_clock_ns / call_ns}


def time_pipeline(pipe: Pipeline, audio: torch.Tensor, bench: DictConfig,
                  max_clock_pct: float = 1.0) -> TimedRun:
    """Cold call, warm-up, the sampling plan (profiled calls or batches, see
    ``plan_sampling``), then adaptive timed samples with the sampler running."""
    policy = policy_from(bench)
    device = pipe.device
    peaks = memory.tracker(device)
    # What earlier runs of this process held is not this run's peak, nor is Triton's
    # autotuning, done in the prepare phase (phases/prepare.py) before this window opens.
    peaks.start_run()
    console.phase(3, "warm-up", f"cold call + {policy.warmup} run(s)"
                  + (f", at least {policy.warmup_s:g} s" if policy.warmup_s else "")
                  + (f", then until the time per call settles (at most {policy.warmup_max})"
                     if policy.warmup_max > policy.warmup and policy.settle_pct > 0 else ""))
    first_start = time.perf_counter()
    pipe.run(audio)
    _sync(device)
    first_call_s = time.perf_counter() - first_start
    sampler = Sampler(pipe, audio)
    warm = warm_up(sampler, policy)
    per_mark_us = stage_clock_us(device)
    clock = plan_sampling(sampler, bench, per_mark_us, max_clock_pct,
                          typical_call_ns(sampler, warm))
    console.phase(4, "repeats", f"{policy.min_repeats}..{policy.max_repeats} timed "
                  + (f"batch(es) of {sampler.loops:,} calls" if sampler.batched else "run(s)")
                  + f", at least {policy.min_time_s:g} s")
    gpu_index = (device.index or 0) if device.type == "cuda" else None
    monitor = Monitor(bench.monitor_interval_s, gpu_index=gpu_index)
    faults_before = minor_faults()
    with console.repeat_progress(policy.min_repeats) as advance, monitor:
        times = repeat(sampler, pipe.stage_names, policy, on_repeat=advance, warmup=warm,
                       loops=sampler.loops)
    calls = times.repeats * (sampler.loops + 1 if sampler.batched else 1)
    run = TimedRun(times, sampler.output, first_call_s, sampler.stage_memory, monitor,
                   sampler.component_ms, outer_ms=sampler.outer_ms,
                   tags=run_tags(times, policy) | {"bench.loops": str(sampler.loops),
                                                   "bench.batched": str(sampler.batched).lower()})
    run.harness["harness.minor_faults_per_run"] = (minor_faults() - faults_before) / max(calls, 1)
    run.harness["harness.outer_vs_total_pct"] = outer_vs_total_pct(sampler.outer_ms,
                                                                   sampler.profiled_total_ms)
    run.harness |= clock | timer_overhead(per_mark_us, len(pipe.stages), times,
                                          clock.get("harness.clock_ns"))
    if bench.overhead_check:
        run.harness |= overhead_side_by_side(pipe, audio, pairs=min(times.repeats, 5))
    _sync(device)
    record_memory(run, peaks, device)
    return run


def record_memory(run: TimedRun, peaks: memory.PeakWindows, device: torch.device) -> None:
    """The run's own peak and, on CUDA, its device memory outside torch's allocator, from
    NVML's counters of this process (else the whole device's, and the method says so)."""
    run.memory_peak_mb, run.memory_method = peaks.run_peak(), peaks.method
    run.memory_added_mb = peaks.run_added()
    if device.type != "cuda":
        return
    process_mb, why = process_memory_mb(device.index or 0)
    if process_mb is None:
        log.warning("NVML gives no memory figure for this process (%s): the memory outside "
                    "torch is the whole device's in use minus torch's reserve, other "
                    "processes included", why)
    run.device_memory = memory.device_memory(device, process_mb)
    run.memory_method += memory.outside_torch_method(process_mb)


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
    timed_s = times.loops * sum(times.samples_ms[TOTAL]) / 1000
    if times.capped:
        log.warning("bench.max_repeats=%d stopped the run after %.2f s of timed repeats, short "
                    "of bench.min_time_s=%g s: raise bench.max_repeats or lower "
                    "bench.min_time_s", policy.max_repeats, timed_s, policy.min_time_s)
    return {"bench.warmup_calls": str(calls),
            "bench.warmup_settled": "unchecked" if settled is None else str(settled).lower(),
            "bench.capped_by_max_repeats": str(times.capped).lower()}


def stage_clock_us(device: torch.device, calls: int = 2000) -> float:
    """Cost of one reading of the stage clock: a mark (with its memory window) and a
    recording callback, in microseconds."""
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
    return per_mark_us


def timer_overhead(per_mark_us: float, n_stages: int, times: StageTimes,
                   batch_clock_ns: float | None = None) -> dict[str, float]:
    """The clock's own cost as a share of a timed sample: the stage clock's marks of a
    profiled call, or (batches) one outer clock over ``times.loops`` calls."""
    call_ms = float(np.median(times.samples_ms[TOTAL]))
    if batch_clock_ns is not None:
        pct = 100.0 * batch_clock_ns / 1e6 / (call_ms * times.loops)
    else:
        pct = 100.0 * per_mark_us * (n_stages + 1) / 1e3 / call_ms
    return {"harness.timer_us_per_stage": per_mark_us, "harness.timer_overhead_pct": pct}


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
