"""Phase 4, measure: a scenario drives the prepared pipeline and returns its measurements.

A scenario is a small object with one job, ``run(ctx, pipe, run_input) -> Measurement``.
``offline`` (the default) is one call of the pipeline timed over warm-up and adaptive
repeats; load shapes (LoadGen, closed-loop concurrency, streaming) are further scenarios.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch

from avbench.load.registry import load_scenario
from avbench.measure.monitor import Monitor
from avbench.measure.stats import Omitted
from avbench.measure.validity import Thresholds
from avbench.metrics.perf import perf_metrics
from avbench.phases.timing import time_pipeline
from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput, Scenario


class OfflineRepeats:
    """One input, the whole pipeline: a cold call, warm-up, adaptive timed repeats."""

    name = "repeats"

    def run(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput) -> Measurement:
        thresholds = Thresholds.from_config(ctx.cfg.validity)
        timed = time_pipeline(pipe, run_input.audio, ctx.cfg.bench, thresholds.max_clock_pct)
        times = timed.times
        # TTS: the audio's length is that of the speech made, known after the first call.
        duration_s = run_input.duration_s or timed.output.audio.shape[-1] / pipe.sample_rate
        omitted: list[Omitted] = []
        metrics = (perf_metrics(times, duration_s, thresholds.sample_rule, omitted)
                   | neural_ms(pipe, times.samples_ms) | component_metrics(timed.component_ms))
        # This run's own peak (measure.memory); on CUDA plus what lives outside torch.
        peak_mb = timed.memory_peak_mb + timed.device_memory.get("memory_outside_torch_mb", 0.0)
        ctx.set_tags({"memory.method": timed.memory_method})
        metrics |= {"memory_peak_mb": peak_mb, "memory_added_mb": timed.memory_added_mb,
                    **timed.device_memory,
                    "audio_duration_s": duration_s,
                    "cold.first_call_s": timed.first_call_s,
                    **{f"memory_peak_mb.{k}": v for k, v in timed.stage_memory_mb.items()},
                    **timed.monitor.summary(), **timed.harness}
        series = {"repeat.total_ms": times.samples_ms["total"],
                  "repeat.outer_ms": timed.outer_ms, **timed.monitor.series()}
        ctx.set_tags(timed.monitor.tags() | timed.tags | {
            "bench.repeats": times.repeats, "monitor.samples": len(timed.monitor.samples)})
        return Measurement(metrics, timed.output, times, series, omitted=omitted)


def scenario_for(ctx: RunContext) -> Scenario:
    """The run's scenario: ``scenario=repeats`` (the default) or a load scenario."""
    if ctx.cfg.scenario.name == "repeats":
        return OfflineRepeats()
    return load_scenario(ctx.cfg.scenario.name)


def measure(ctx: RunContext, pipe: Pipeline, run_input: RunInput) -> Measurement:
    """Run the scenario. A load scenario runs under the CPU monitor (offline repeats run
    their own around the timed repeats), so the judge sees what else used the machine; an
    HTTP run against a server elsewhere (``scenario.url``) is not monitored: on this machine
    that server would count as another process."""
    scenario = scenario_for(ctx)
    monitored = not isinstance(scenario, OfflineRepeats) and not (
        ctx.cfg.scenario.name == "http" and ctx.cfg.scenario.get("url"))
    if not monitored:
        measured = scenario.run(ctx, pipe, run_input)
    else:
        with Monitor(ctx.cfg.bench.monitor_interval_s) as monitor:
            measured = scenario.run(ctx, pipe, run_input)
        measured.metrics = {**monitor.summary(), **measured.metrics}
    ctx.metrics |= measured.metrics
    return measured


def neural_ms(pipe: Pipeline, samples_ms: dict[str, Any]) -> dict[str, float]:
    """``neural_ms``: median per-repeat time of the stages that hold neural components
    (what a backend changes; the DSP inside those stages included)."""
    neural = [stage.name for stage in pipe.stages if stage.components]
    if not neural:
        return {}
    return {"neural_ms": median_of_sums([samples_ms[name] for name in neural])}


def component_metrics(component_ms: dict[str, list[float]]) -> dict[str, float]:
    """``component_ms.<name>`` (median per run) and ``component_ms`` (median of the per-run
    sum): time inside the neural components only, without the stages' DSP."""
    if not component_ms:
        return {}
    metrics = {f"component_ms.{name}": float(np.median(values))
               for name, values in component_ms.items()}
    metrics["component_ms"] = median_of_sums(list(component_ms.values()))
    return metrics


def median_of_sums(series: list[list[float]]) -> float:
    """Median over repeats of the per-repeat sum of several aligned series."""
    return float(np.median(np.sum(np.asarray(series, dtype=float), axis=0)))


def work_stream(device: torch.device) -> Any:
    """On CUDA everything (export, engines, timing, parity) runs on one non-default stream:
    TensorRT adds a synchronisation per call on the legacy default stream, and ONNX Runtime
    and TensorRT are bound to the stream that is current when they are prepared."""
    return (torch.cuda.stream(torch.cuda.Stream(device)) if device.type == "cuda"
            else contextlib.nullcontext())
