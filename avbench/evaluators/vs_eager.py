"""``bench.eager_side_by_side=N``: N interleaved pairs of the fp32 eager reference and this
run's pipeline, for a speed-up that the machine's slow periods hit alike."""

from __future__ import annotations

from avbench import console
from avbench.evaluators import parity_reference as parity
from avbench.evaluators.side_by_side import side_by_side
from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput


class VsEager:
    name = "vs_eager"
    depends_on = ()

    def applies(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                measured: Measurement) -> bool:
        return int(ctx.cfg.bench.eager_side_by_side) > 0

    def evaluate(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                 measured: Measurement) -> dict[str, float]:
        pairs = int(ctx.cfg.bench.eager_side_by_side)
        if parity.is_reference(ctx.cfg, ctx.kernel):
            console.print_line("      vs eager  skipped: this run is the fp32 eager reference")
            return {}
        console.print_line(f"      vs eager  {pairs} interleaved pair(s) with the fp32 eager "
                           "reference")
        return side_by_side(pipe, ctx.reference_builder(), run_input.audio, pairs).metrics()
