"""Phase 5, evaluate: evaluators turn the measured run's output into figures, after timing.

An evaluator is a small object with one job. It declares the components whose weights
its figure depends on (``depends_on``), so a figure on a seeded path is not graded,
whether it applies to this run, and computes its metrics. New figures add evaluators
to ``EVALUATORS``, not branches to the task. ``bench.skip_evaluators`` names evaluators a run
leaves out (each tagged ``quality.<name>.skipped``); the parity evaluator, which holds the
speed+quality gate the verdict rests on, is never skipped.
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
from avbench.runtime import ConfigError

GATE = "parity"  # the speed+quality gate: the verdict needs it


def default_evaluators() -> list[Evaluator]:
    return [PitchAccuracy(), CleanStemPitch(), SeparationQuality(), VocoderResynthesis(),
            DnsMos(), DnsMos("vocals", "separated_", ("separation",)), SpeakerSimilarity(),
            Parity(), VsEager(), KnownCost(), Roofline()]


def check_skips(names: list[str]) -> set[str]:
    """``bench.skip_evaluators`` as a set; an unknown name or the gate is a ConfigError."""
    known = [e.name for e in default_evaluators() if e.name != GATE]
    wrong = [n for n in names if n not in known]
    if wrong:
        raise ConfigError(f"bench.skip_evaluators: {', '.join(map(repr, wrong))} cannot be "
                          f"skipped; the evaluators that can are {', '.join(known)} (the "
                          f"{GATE} gate always runs)")
    return set(names)


def evaluate(ctx: RunContext, pipe: Pipeline, run_input: RunInput, measured: Measurement,
             evaluators: list[Evaluator] | None = None) -> None:
    """Run every evaluator that applies but those ``bench.skip_evaluators`` names; their
    metrics join the run's (``execute`` checked the names before any work)."""
    skipped = set(ctx.cfg.bench.skip_evaluators)
    for evaluator in default_evaluators() if evaluators is None else evaluators:
        if evaluator.name in skipped:
            ctx.set_tags({f"quality.{evaluator.name}.skipped": "bench.skip_evaluators"})
        elif evaluator.applies(ctx, pipe, run_input, measured):
            metrics = evaluator.evaluate(ctx, pipe, run_input, measured)
            ctx.metrics |= metrics
            if evaluator.depends_on:
                verdict = grading(ctx.tags, evaluator.depends_on)
                ctx.set_tags({f"{GRADING_TAG}{name}": verdict for name in metrics})
    instruments.release()
