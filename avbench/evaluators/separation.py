"""Separation quality: SI-SDR of the separated stems against the known stems."""

from __future__ import annotations

import numpy as np
import torch

from avbench.evaluators.references import references
from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput


def si_sdr_db(estimate: np.ndarray | torch.Tensor, reference: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio (Le Roux et al. 2019) in dB, torchmetrics'."""
    from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio

    est = torch.as_tensor(np.asarray(estimate.detach().cpu() if hasattr(estimate, "detach")
                                     else estimate), dtype=torch.float64)
    ref = torch.as_tensor(reference, dtype=torch.float64)
    n = min(est.shape[-1], ref.shape[-1])
    return float(scale_invariant_signal_distortion_ratio(est[..., :n], ref[..., :n]))


class SeparationQuality:
    """``quality.vocals_si_sdr_db`` / ``quality.accompaniment_si_sdr_db``: the separation stage's
    stems against the input's known stems; ``*_improvement_db``: the gain over the mixture
    itself taken as the estimate (what separating bought)."""

    name = "separation"
    depends_on = ("separation",)

    def applies(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                measured: Measurement) -> bool:
        state = measured.output.state if measured.output is not None else {}
        return ("vocals" in state and "accompaniment" in state
                and (run_input.song is not None or bool(ctx.cfg.audio.get("vocals_path"))))

    def evaluate(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                 measured: Measurement) -> dict[str, float]:
        refs = references(ctx, pipe, run_input)
        state = measured.output.state
        mix = run_input.audio.detach().cpu().float().numpy()
        metrics = {}
        for stem, reference in (("vocals", refs.vocals), ("accompaniment", refs.accompaniment)):
            separated = si_sdr_db(state[stem].float(), reference)
            metrics[f"quality.{stem}_si_sdr_db"] = separated
            metrics[f"quality.{stem}_si_sdr_improvement_db"] = separated - si_sdr_db(mix,
                                                                                     reference)
        return metrics
