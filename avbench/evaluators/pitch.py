"""Pitch accuracy of the pipeline's F0 (on the separated vocals) against the input's labels."""

from __future__ import annotations

from avbench.evaluators.references import references
from avbench.metrics.quality import pitch_metrics
from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput

COUNTS = ("pitch_frames_voiced", "pitch_frames_both_voiced")


class PitchAccuracy:
    """``pitch_*``: the f0_extraction stage's output, i.e. F0 of the separated vocals, against
    the synthetic song's exact labels or, for a real file with ``audio.vocals_path``, the F0
    method's own track of the reference vocals (tag ``pitch.labels`` says which)."""

    name = "pitch"
    depends_on = ("separation", "f0")

    def applies(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                measured: Measurement) -> bool:
        return ((run_input.song is not None or bool(ctx.cfg.audio.get("vocals_path")))
                and measured.output is not None and "f0_hz" in measured.output.state)

    def evaluate(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                 measured: Measurement) -> dict[str, float]:
        refs = references(ctx, pipe, run_input)
        if refs is None or refs.f0_hz is None:
            return {}
        state = measured.output.state
        ctx.set_tags({"pitch.labels": refs.labels})
        metrics = pitch_metrics(state["f0_hz"].cpu().numpy(), state["voiced"].cpu().numpy(),
                                refs.f0_hz, refs.voiced)
        return pop_counts(ctx, metrics)


def pop_counts(ctx: RunContext, metrics: dict[str, float]) -> dict[str, float]:
    """Frame counts are the figures' support, not measurements: tags, not metrics."""
    counts = {key: int(metrics.pop(key)) for key in list(metrics)
              if key.rsplit(".", 1)[-1] in COUNTS}
    ctx.set_tags(counts)
    return metrics
