"""Each neural component on this machine's roofline: FLOPs per call, bytes, intensity, and the
share of the measured peak it reaches (avbench/measure/roofline.py; peaks from task=doctor)."""

from __future__ import annotations

import logging

import torch

from avbench import console
from avbench.measure import roofline
from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput
from avbench.runtime import resolve_cache_dir

log = logging.getLogger(__name__)


def run_precision(ctx: RunContext, component: str) -> str:
    """The peak a component is held to: int8 where it was quantised, else the run's dtype."""
    effective = ctx.tags.get(f"backend.precision.{component}", "")
    if effective.startswith("int8"):
        return "int8"
    return {"bfloat16": "bf16"}.get(str(ctx.cfg.precision.dtype), "fp32")


class Roofline:
    """``roofline.<component>.{gflop_per_call,weight_mb,activation_mb,intensity,
    achieved_gflops,pct_of_peak,pct_of_roof}`` for each component timed in this run."""

    name = "roofline"
    depends_on = ()

    def applies(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                measured: Measurement) -> bool:
        return (ctx.device.type == "cpu" and any(f"component_ms.{name}" in ctx.metrics for name in pipe.components))

    def evaluate(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                 measured: Measurement) -> dict[str, float]:
        peaks = roofline.load_peaks(roofline.peaks_path(
            resolve_cache_dir(ctx.cfg.paths.cache_dir), torch.get_num_threads()))
        if peaks is None:
            console.print_line("      roofline  no peaks for this machine and thread count: "
                               "run python -m avbench task=doctor once (figures without % of peak)")
        frames = _frames(pipe, run_input)
        metrics: dict[str, float] = {}
        for name, component in pipe.components.items():
            ms = ctx.metrics.get(f"component_ms.{name}")
            if ms is None:
                continue
            precision = run_precision(ctx, name)
            peak = peaks.peak(precision) if peaks else None
            weights = (sum(p.numel() for p in component.module.parameters())
                       if precision == "int8" else None)  # one byte per quantised weight
            point = roofline.component_point(component.module, component.example_inputs(frames),
                                             ms, peak, peaks.triad_gbs if peaks else None,
                                             weights)
            metrics |= _metrics(name, point)
        return metrics


def _frames(pipe: Pipeline, run_input: RunInput) -> int:
    """The run's input length in frames (a text pipeline gives its own)."""
    own = getattr(pipe, "frame_range", None)
    if callable(own):
        return own(run_input.audio).opt
    return run_input.audio.shape[-1] // int(getattr(pipe, "hop_length", 256)) + 1


def _metrics(name: str, point: roofline.RooflinePoint) -> dict[str, float]:
    values = {"gflop_per_call": point.flops / 1e9, "weight_mb": point.weight_bytes / 1e6,
              "activation_mb": point.activation_bytes / 1e6, "intensity": point.intensity,
              "achieved_gflops": point.achieved_gflops}
    if point.pct_of_peak is not None:
        values["pct_of_peak"] = point.pct_of_peak
    if point.pct_of_roof is not None:
        values["pct_of_roof"] = point.pct_of_roof
    return {f"roofline.{name}.{key}": value for key, value in values.items()}
