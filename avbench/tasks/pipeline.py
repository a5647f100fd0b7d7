"""task=pipeline: one benchmark run as a sequence of phases (see avbench.phases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from avbench.phases.build import build, pipeline_label, uses_preset
from avbench.phases.context import open_run
from avbench.phases.evaluate import check_skips, evaluate
from avbench.phases.input import input_label, load_input
from avbench.phases.judge import judge
from avbench.phases.measure import measure, work_stream
from avbench.phases.prepare import prepare
from avbench.phases.record import record
from avbench.runtime import fp32_math, resolve_device
from avbench.tracking import RunLogger

TASK_OPTIONS: tuple[str, ...] = ()  # task.* keys this task reads (the others are not logged)


def run_name(cfg: DictConfig) -> str:
    """Readable run name from resolved values, e.g. svc-balanced-fp32-pytorch-10s: the
    pipeline (a custom one by its class), its preset when it reads one, precision, backend
    and ``input_label``; a kernel chosen explicitly is named, and so is a scenario other
    than the default repeats."""
    parts = [pipeline_label(cfg), *([cfg.preset.name] if uses_preset(cfg) else []),
             cfg.precision.name, cfg.backend.name, input_label(cfg)]
    if cfg.kernel.name != "auto":
        parts.append(cfg.kernel.name)
    if cfg.scenario.name != "repeats":
        parts.append(cfg.scenario.name)
    return cfg.run_name or "-".join(parts)


def execute(cfg: DictConfig, logger: RunLogger, out_dir: Path, name: str) -> dict[str, Any]:
    """One benchmark run; returns the headline metrics. Raises on bad input or config."""
    check_skips(list(cfg.bench.skip_evaluators))  # before any work
    device = resolve_device(cfg.gpu)
    with work_stream(device), fp32_math(device, bool(cfg.precision.tf32)):
        ctx = open_run(cfg, logger, out_dir, name, device)
        run_input = load_input(ctx)
        pipe = build(ctx)
        report = prepare(ctx, pipe, run_input)
        measured = measure(ctx, pipe, run_input)
        ctx.metrics |= report.after_run()  # e.g. what torch.compile did during the run
        evaluate(ctx, pipe, run_input, measured)
        verdict = judge(ctx, measured)
        return record(ctx, pipe, run_input, measured, report, verdict)
