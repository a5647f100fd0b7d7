"""Phase 5, evaluate: evaluators turn the measured run's output into figures, after timing.

An evaluator is a small object with one job. It declares the components whose weights
its figure depends on (``depends_on``), so a figure on a seeded path is not graded,
whether it applies to this run, and computes its metrics. New figures add evaluators
to ``EVALUATORS``, not branches to the task.
"""

from __future__ import annotations

from avbench.evaluators import instruments
from avbench.evaluators.calibration import KnownCost
from avbench.evaluators.clean_pitch import CleanStemPitch
from avbench.evaluators.dnsmos import DnsMos
from avbench.evaluators.grading import GRADING_TAG, grading
from avbench.evaluators.parity import Parity
from avbench.evaluators.pitch import PitchAccuracy
from avbench.evaluators.resynthesis import VocoderResynthesis
from avbench.evaluators.roofline import Roofline
from avbench.evaluators.separation import SeparationQuality
from avbench.evaluators.speaker import SpeakerSimilarity
from avbench.evaluators.vs_eager import VsEager
from avbench.pipelines.base import Pipeline
from avbench.run_types import Evaluator, Measurement, RunContext, RunInput


def default_evaluators() -> list[Evaluator]:
    return [PitchAccuracy(), CleanStemPitch(), SeparationQuality(), VocoderResynthesis(),
            DnsMos(), DnsMos("vocals", "separated_", ("separation",)), SpeakerSimilarity(),
            Parity(), VsEager(), KnownCost(), Roofline()]


def evaluate(ctx: RunContext, pipe: Pipeline, run_input: RunInput, measured: Measurement,
             evaluators: list[Evaluator] | None = None) -> None:
    """Run every evaluator that applies; their metrics join the run's."""
    for evaluator in default_evaluators() if evaluators is None else evaluators:
        if evaluator.applies(ctx, pipe, run_input, measured):
            metrics = evaluator.evaluate(ctx, pipe, run_input, measured)
            ctx.metrics |= metrics
            if evaluator.depends_on:
                verdict = grading(ctx.tags, evaluator.depends_on)
                ctx.set_tags({f"{GRADING_TAG}{name}": verdict for name in metrics})
    instruments.release()
