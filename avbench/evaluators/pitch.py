"""Pitch accuracy of the pipeline's F0 against a synthetic song's labels."""

from __future__ import annotations

import torch

from avbench.metrics.quality import pitch_metrics
from avbench.phases.context import RunContext
from avbench.phases.input import RunInput
from avbench.phases.measure import Measurement
from avbench.pipelines.base import Pipeline

COUNTS = ("pitch_frames_voiced", "pitch_frames_both_voiced")


class PitchAccuracy:
    """``pitch_*``: the f0_extraction stage's output, i.e. F0 of the separated vocals (with
    untrained separation weights this mostly measures the separation). ``f0_clean.pitch_*``:
    the same extractor on the clean vocal stem, which isolates the F0 method itself."""

    name = "pitch"
    depends_on = ("separation",)

    def applies(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                measured: Measurement) -> bool:
        return (run_input.song is not None and measured.output is not None
                and "f0_hz" in measured.output.state)

    def evaluate(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                 measured: Measurement) -> dict[str, float]:
        song, state = run_input.song, measured.output.state
        labels = (song.f0_hz, song.voiced)
        metrics = pitch_metrics(state["f0_hz"].cpu().numpy(), state["voiced"].cpu().numpy(),
                                *labels)
        if hasattr(pipe, "extract_f0"):
            with torch.inference_mode():
                f0_hz, voiced = pipe.extract_f0(torch.from_numpy(song.vocals))
            clean = pitch_metrics(f0_hz.cpu().numpy(), voiced.cpu().numpy(), *labels)
            metrics |= {f"f0_clean.{key}": value for key, value in clean.items()}
        # Frame counts are the figures' support, not measurements: tags, not metrics.
        counts = {key: int(metrics.pop(key)) for key in list(metrics)
                  if key.removeprefix("f0_clean.") in COUNTS}
        ctx.set_tags(counts)
        return metrics
