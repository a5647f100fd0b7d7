"""``bench.eager_side_by_side=N``: N interleaved pairs of the fp32 eager reference and this
run's pipeline, for a speed-up that the machine's slow periods hit alike."""

from __future__ import annotations

from avbench import console
from avbench.phases.build import reference_builder
from avbench.phases.context import RunContext
from avbench.phases.input import RunInput
from avbench.phases.measure import Measurement
from avbench.pipelines.base import Pipeline
from avbench.tasks import parity
from avbench.tasks.side_by_side import side_by_side


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
        return side_by_side(pipe, reference_builder(ctx), run_input.audio, pairs).metrics()
