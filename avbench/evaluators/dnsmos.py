"""DNSMOS P.835 (SIG, BAK, OVRL) of the pipeline's vocals, on ONNX Runtime."""

from __future__ import annotations

from avbench.evaluators.instruments import OUTPUT_PATH, instrument
from avbench.models.dnsmos import DNSMOS
from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput


class DnsMos:
    """``quality.<prefix>dnsmos_{ovrl,sig,bak}`` of the state's ``stem``: by default the output
    (converted) vocals, which depend on every component on the conversion path; with
    ``stem="vocals"`` the separated vocals (``quality.separated_dnsmos_*``)."""

    def __init__(self, stem: str = "converted", prefix: str = "",
                 depends_on: tuple[str, ...] = OUTPUT_PATH) -> None:
        self.stem, self.prefix, self.depends_on = stem, prefix, depends_on
        self.name = f"{prefix}dnsmos"

    def applies(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                measured: Measurement) -> bool:
        return measured.output is not None and self.stem in measured.output.state

    def evaluate(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                 measured: Measurement) -> dict[str, float]:
        model = instrument(ctx, "dnsmos", DNSMOS)
        if model is None:
            return {}
        audio = measured.output.state[self.stem].detach().float().cpu().numpy()
        scores = model(audio, pipe.sample_rate)
        return {f"quality.{self.prefix}dnsmos_{name}": value for name, value in scores.items()}
