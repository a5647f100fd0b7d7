"""The gate as an evaluator: each stage's output against the fp32 eager reference's, judged
by numeric parity (seeded components, DSP) or by its field's quality measures (real weights;
avbench/evaluators/quality_gate.py)."""

from __future__ import annotations

import logging

import torch

from avbench import console
from avbench.evaluators import parity_reference as parity
from avbench.evaluators import quality_gate
from avbench.evaluators.references import references
from avbench.metrics.parity import SNR_CAP_DB
from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput

log = logging.getLogger(__name__)


class Parity:
    """``parity.<stage>.*`` metrics and the ``parity.*`` tags; ``ctx.parity_failures`` stays
    None when the run was not checked (it is the reference, or parity is off), else it holds
    the violations, one line per stage."""

    name = "parity"
    depends_on = ()

    def applies(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                measured: Measurement) -> bool:
        return measured.output is not None

    def evaluate(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                 measured: Measurement) -> dict[str, float]:
        cfg = ctx.cfg
        if not parity.needed(cfg, ctx.kernel):
            console.phase(5, "parity", "skipped: this run is the fp32 eager reference"
                          if cfg.backend.parity.enabled else "off (backend.parity.enabled=false)")
            # The reference's output is the reference: its fidelity is the SNR cap.
            final = isinstance(measured.output.state.get(parity.FINAL_OUTPUT), torch.Tensor)
            return ({parity.FIDELITY: SNR_CAP_DB} if final and cfg.backend.parity.enabled
                    and parity.is_reference(cfg, ctx.kernel) else {})
        console.phase(5, "parity", f"stage outputs vs the fp32 eager reference "
                      f"(thresholds of precision={cfg.precision.name})")
        reference, hit = parity.reference_outputs(cfg, run_input.audio, ctx.device,
                                                  ctx.backend_cache, ctx.reference_builder(), pipe)
        state = measured.output.state
        alone = parity.isolated_outputs(pipe, state, reference)
        values, numeric = parity.check_by_stage(pipe, state, reference, cfg.precision.parity,
                                                alone)
        gates = quality_gate.stage_gates(pipe, ctx.tags)
        graded, quality = quality_gate.check(pipe, state | alone, reference,
                                             cfg.precision.quality, gates,
                                             _truth(ctx, pipe, run_input, gates))
        failures = quality_gate.verdict(gates, numeric, quality)
        ctx.set_tags({"parity.pass": str(not failures).lower(),
                      "parity.method": "by_stage" if pipe.parity_by_stage else "chained",
                      "parity.reference_cache": "hit" if hit else "miss",
                      "parity.failures": "; ".join(failures)[:5000]}
                     | {f"gate.{stage}": gate for stage, gate in gates.items()})
        for failure in failures:
            log.warning("gate beyond precision=%s limits: %s", cfg.precision.name, failure)
        ctx.parity_failures = failures
        return values | graded


def _truth(ctx: RunContext, pipe: Pipeline, run_input: RunInput,
           gates: dict[str, str]) -> dict[str, torch.Tensor]:
    """The input's true vocal stem, when known and a separation stage is quality-judged."""
    if not any(gate == quality_gate.QUALITY and pipe.quality_fields.get(stage) == "separation"
               for stage, gate in gates.items()):
        return {}
    known = references(ctx, pipe, run_input)
    return {} if known is None else {"vocals": torch.from_numpy(known.vocals)}
