"""Phase 5, evaluate: evaluators turn the measured run's output into figures, after timing.

An evaluator is a small object with one job. It declares the components whose weights
its figure depends on (``depends_on``), so a figure on a seeded path is not graded,
whether it applies to this run, and computes its metrics. New figures add evaluators
to ``EVALUATORS``, not branches to the task.
"""

from __future__ import annotations

from typing import Protocol

from avbench.evaluators import instruments
from avbench.evaluators.calibration import KnownCost
from avbench.evaluators.clean_pitch import CleanStemPitch
from avbench.evaluators.dnsmos import DnsMos
from avbench.evaluators.parity import Parity
from avbench.evaluators.pitch import PitchAccuracy
from avbench.evaluators.resynthesis import VocoderResynthesis
from avbench.evaluators.separation import SeparationQuality
from avbench.evaluators.speaker import SpeakerSimilarity
from avbench.evaluators.vs_eager import VsEager
from avbench.phases.context import RunContext
from avbench.phases.input import RunInput
from avbench.phases.measure import Measurement
from avbench.pipelines.base import Pipeline


class Evaluator(Protocol):
    name: str
    depends_on: tuple[str, ...]  # components whose weights the figure depends on

    def applies(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                measured: Measurement) -> bool: ...

    def evaluate(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                 measured: Measurement) -> dict[str, float]: ...


def default_evaluators() -> list[Evaluator]:
    return [PitchAccuracy(), CleanStemPitch(), SeparationQuality(), VocoderResynthesis(),
            DnsMos(), DnsMos("vocals", "separated_", ("separation",)), SpeakerSimilarity(),
            Parity(), VsEager(), KnownCost()]


GRADED = "graded"
WEIGHTS_TAG = "model.weights."
GRADING_TAG = "grading."  # grading.<metric> = graded | not graded (seeded: <components>)


def grading(tags: dict[str, str], depends_on: tuple[str, ...]) -> str:
    """``graded`` when every component the figure depends on has real weights, else
    ``not graded (seeded: <components>)``. A component the pipeline does not have (no
    ``model.weights.<component>`` tag, e.g. ``f0`` with YIN) is no dependency."""
    seeded = [c for c in depends_on if tags.get(f"{WEIGHTS_TAG}{c}") == "seeded"]
    return f"not graded (seeded: {', '.join(seeded)})" if seeded else GRADED


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
