"""The timed part of task=pipeline: cold call, warm-up, adaptive repeats, telemetry, overhead."""

from __future__ import annotations

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
    device_memory: dict[str, float] = field(default_factory=dict)  # CUDA: see memory


def policy_from(bench: DictConfig) -> RepeatPolicy:
    # The cold first call is the first warm-up run.
    return RepeatPolicy(warmup=max(bench.warmup - 1, 0), warmup_s=bench.warmup_s,
                        min_repeats=bench.min_repeats, min_time_s=bench.min_time_s,
                        max_repeats=bench.max_repeats)


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
                  + (f", at least {policy.warmup_s:g} s" if policy.warmup_s else ""))
    first_start = time.perf_counter()
    pipe.run(audio)
    _sync(device)
    first_call_s = time.perf_counter() - first_start

    console.phase(4, "repeats", f"{policy.min_repeats}..{policy.max_repeats} timed run(s), "
                  f"at least {policy.min_time_s:g} s")
    outputs: list[PipelineOutput] = []
    stage_memory: dict[str, float] = {}

    component_ms: dict[str, list[float]] = {}

    def run_once(callback: Any) -> None:
        output = pipe.run(audio, profiling_callback=callback)
        if callback is not None:
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
    run = TimedRun(times, outputs[0], first_call_s, stage_memory, monitor, component_ms)
    run.harness["harness.minor_faults_per_run"] = faults
    run.harness |= timer_overhead(device, len(pipe.stages), times)
    if bench.overhead_check:
        run.harness |= overhead_side_by_side(pipe, audio, pairs=min(times.repeats, 5))
    _sync(device)
    run.memory_peak_mb, run.memory_method = peaks.run_peak(), peaks.method
    run.device_memory = memory.device_memory(device)
    return run


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
