"""The F0 method alone: the pipeline's F0 extractor on the clean vocal stem of a synthetic song."""

from __future__ import annotations

import torch

from avbench.evaluators.pitch import pop_counts
from avbench.metrics.quality import pitch_metrics
from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput


class CleanStemPitch:
    """``f0_clean.pitch_*``: isolates the F0 method from the separation. It runs outside the
    measured pipeline call, so only a neural F0 method's backend and precision change it."""

    name = "f0_clean"
    depends_on = ("f0",)

    def applies(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                measured: Measurement) -> bool:
        return run_input.song is not None and hasattr(pipe, "extract_f0")

    def evaluate(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                 measured: Measurement) -> dict[str, float]:
        song = run_input.song
        with torch.inference_mode():
            f0_hz, voiced = pipe.extract_f0(torch.from_numpy(song.vocals))
        clean = pitch_metrics(f0_hz.cpu().numpy(), voiced.cpu().numpy(), song.f0_hz, song.voiced)
        return pop_counts(ctx, {f"f0_clean.{key}": value for key, value in clean.items()})
