"""task=pipeline: one benchmark run as a sequence of phases (see avbench.phases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from avbench.phases.build import build, build_pipeline
from avbench.phases.context import open_run
from avbench.phases.evaluate import evaluate
from avbench.phases.input import load_input
from avbench.phases.measure import measure, work_stream
from avbench.phases.prepare import frame_range, prepare
from avbench.phases.record import record, trust_flags
from avbench.runtime import resolve_device
from avbench.tracking import RunLogger

__all__ = ["TASK_OPTIONS", "build_pipeline", "execute", "frame_range", "run_name"]

TASK_OPTIONS: tuple[str, ...] = ()  # task.* keys this task reads (the others are not logged)


def run_name(cfg: DictConfig) -> str:
    """Readable run name, e.g. svc-balanced-fp32-pytorch-10s."""
    audio = Path(cfg.audio.path).stem if cfg.audio.path else cfg.audio.name
    return cfg.run_name or "-".join(
        [cfg.pipeline.name, cfg.preset.name, cfg.precision.name, cfg.backend.name, audio])


def execute(cfg: DictConfig, logger: RunLogger, out_dir: Path, name: str) -> dict[str, Any]:
    """One benchmark run; returns the headline metrics. Raises on bad input or config."""
    device = resolve_device(cfg.gpu)
    with work_stream(device):
        ctx = open_run(cfg, logger, out_dir, name, device)
        run_input = load_input(ctx)
        pipe = build(ctx)
        report = prepare(ctx, pipe, run_input)
        measured = measure(ctx, pipe, run_input)
        trust_flags(ctx)
        evaluate(ctx, pipe, run_input, measured)
        return record(ctx, pipe, run_input, measured, report)
