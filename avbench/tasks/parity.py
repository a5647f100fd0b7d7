"""The parity gate: stage outputs of a run against the fp32 eager reference on the same input.

The reference is the same pipeline and preset built in float32 with eager
PyTorch and the torch DSP kernels, run once on the same input on the same
device; its stage outputs are cached (avbench.backends.cache) keyed by the
input's hash, the pipeline and preset settings, seed, checkpoint and torch
version. Each stage's output is the one the run produced at that point, so
errors accumulate down the pipeline as they do for a user.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

import avbench
from avbench.backends.cache import ArtifactCache, file_digest
from avbench.metrics.parity import compare, violations
from avbench.pipelines.base import Pipeline, State

log = logging.getLogger(__name__)


class ParityError(RuntimeError):
    """A run beyond its precision's parity thresholds with backend.parity.enforce=true."""


def is_reference(cfg: DictConfig, kernel: str) -> bool:
    """fp32 eager PyTorch with the torch kernels: the run the reference is built as."""
    return (cfg.backend.name == "pytorch" and cfg.precision.dtype == "float32"
            and kernel == "torch")


def needed(cfg: DictConfig, kernel: str) -> bool:
    """Every run that is not the reference itself is checked."""
    return bool(cfg.backend.parity.enabled) and not is_reference(cfg, kernel)


def reference_fields(cfg: DictConfig, audio: torch.Tensor, device: torch.device) -> dict[str, Any]:
    pipeline = OmegaConf.to_container(cfg.pipeline, resolve=True)
    checkpoint = cfg.pipeline.get("checkpoint")
    return {
        "input_sha256": hashlib.sha256(audio.detach().cpu().contiguous().numpy().tobytes())
        .hexdigest(),
        "pipeline": pipeline,
        "preset": OmegaConf.to_container(cfg.preset, resolve=True),
        "checkpoint_sha256": file_digest(Path(checkpoint)) if checkpoint else None,
        "device": str(device), "torch": torch.__version__, "avbench": avbench.__version__,
    }


def reference_outputs(cfg: DictConfig, audio: torch.Tensor, device: torch.device,
                      cache_dir: Path, build: Callable[[], Pipeline]) -> tuple[State, bool]:
    """Stage outputs of the fp32 eager reference (cached) and whether the cache had them."""
    entry = ArtifactCache(cache_dir).entry(
        "reference", f"{cfg.pipeline.name}-{cfg.preset.name}",
        reference_fields(cfg, audio, device), "outputs.pt")

    def compute(path: Path) -> None:
        log.info("computing the fp32 eager reference for the parity gate (cached after this)")
        pipe = build()
        state = pipe.run(audio).state
        keys = [key for stage in pipe.stages for key in stage.outputs]
        torch.save({key: state[key].detach().cpu() for key in keys}, path)

    result = entry.get_or_build(compute)
    return torch.load(result.path, weights_only=True), result.hit


def check(pipe: Pipeline, state: State, reference: State,
          thresholds: Any) -> tuple[dict[str, float], list[str]]:
    """``parity.<stage>.<measure>`` metrics and the violations, one line per stage."""
    metrics: dict[str, float] = {}
    failures: list[str] = []
    for stage in pipe.stages:
        for key in stage.outputs:
            if key not in state or key not in reference:
                continue
            prefix = f"parity.{stage.name}" + (f".{key}" if len(stage.outputs) > 1 else "")
            measures = compare(state[key], reference[key], audio=key in pipe.audio_keys)
            metrics |= {f"{prefix}.{m}": v for m, v in measures.items()}
            problems = violations(measures, thresholds)
            if problems:
                failures.append(f"{stage.name}: {', '.join(problems)}")
    return metrics, failures
