"""Known-cost check: a calibration pipeline's measured stage times against their known cost."""

from __future__ import annotations

from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput


class KnownCost:
    """``calibration.error_pct.<stage>``: how far the measured median is from the known cost."""

    name = "calibration"
    depends_on = ()

    def applies(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                measured: Measurement) -> bool:
        return bool(getattr(pipe, "stage_ms", None))

    def evaluate(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                 measured: Measurement) -> dict[str, float]:
        return {f"calibration.error_pct.{stage}":
                100 * (ctx.metrics[f"stage_ms.{stage}"] - ms) / ms
                for stage, ms in pipe.stage_ms.items() if ms > 0}
