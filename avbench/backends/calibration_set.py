"""The calibration set of post-training quantisation: each component's real inputs on songs
that are never the evaluation input.

The pipeline runs (eager, float32, before any backend replaced its components) on a few
synthetic songs whose seeds differ from the run's ``audio.seed``; each component's inputs
are recorded on the way. The set's digest (every recorded tensor) keys the quantised
models in the cache, so another calibration set gives another entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

from avbench.pipelines.base import Pipeline

SEEDS = (7001, 7002, 7003, 7004)  # calibration songs; the evaluation input's seed is skipped
DURATION_S = 2.0


@dataclass
class CalibrationSet:
    """``inputs[component]``: the argument tuples it was called with, in call order."""

    inputs: dict[str, list[tuple[torch.Tensor, ...]]] = field(default_factory=dict)
    description: str = ""

    @property
    def digest(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.inputs):
            digest.update(name.encode())
            for call in self.inputs[name]:
                for tensor in call:
                    digest.update(str(tuple(tensor.shape)).encode())
                    digest.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
        return digest.hexdigest()


def seeds(evaluation_seed: int, count: int = len(SEEDS)) -> list[int]:
    """Calibration seeds: never the seed of the song being evaluated."""
    return [seed for seed in SEEDS if seed != evaluation_seed][:count]


def record(pipe: Pipeline, waveforms: Iterable[torch.Tensor], description: str = "",
           vocals: Iterable[torch.Tensor] = ()) -> CalibrationSet:
    """Run ``pipe`` on each waveform, recording every component's inputs (detached copies);
    ``vocals``: clean vocal stems the pipeline's vocoder also resynthesises from their mel
    (``pipe.resynthesize``), so its calibration covers real mels and not only the
    conversion's (measured: calibrated on the seeded conversion's mels alone, HiFi-GAN's
    int8 copy-synthesis of clean vocals was 22 dB log-mel from them instead of 3.4)."""
    calibration = CalibrationSet(description=description)
    saved = {name: component.run for name, component in pipe.components.items()}

    def recorder(name: str, module: torch.nn.Module):
        def call(*inputs: torch.Tensor) -> torch.Tensor:
            calibration.inputs.setdefault(name, []).append(
                tuple(x.detach().clone() for x in inputs))
            return module(*inputs)
        return call

    try:
        for name, component in pipe.components.items():
            component.run = recorder(name, component.module)
        for waveform in waveforms:
            pipe.run(waveform.to(pipe.device))
        resynthesize = getattr(pipe, "resynthesize", None)
        if callable(resynthesize):
            with torch.inference_mode():
                for stem in vocals:
                    resynthesize(stem)
    finally:
        for name, component in pipe.components.items():
            component.run = saved[name]
    return calibration
