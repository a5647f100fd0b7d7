"""The vocoder alone: copy-synthesis of the clean vocals from their mel, against those vocals."""

from __future__ import annotations

import math

import numpy as np
import torch

from avbench.evaluators.references import references
from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput

_DB_PER_NEPER = 20.0 / math.log(10.0)


class VocoderResynthesis:
    """``quality.vocoder_resynthesis_logmel_db``: mean absolute difference of the HiFi-GAN
    log-mels (in dB) of the resynthesis and the clean vocals (0 is perfect);
    ``quality.vocoder_resynthesis_stoi``: STOI (pystoi, 0..1) of the resynthesis against them.
    The vocoder runs through the prepared backend in the run's precision."""

    name = "vocoder_resynthesis"
    depends_on = ("vocoder",)

    def applies(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                measured: Measurement) -> bool:
        return (getattr(pipe, "vocoder_mel", None) is not None
                and (run_input.song is not None or bool(ctx.cfg.audio.get("vocals_path"))))

    def evaluate(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                 measured: Measurement) -> dict[str, float]:
        from pystoi import stoi

        clean = torch.from_numpy(np.ascontiguousarray(references(ctx, pipe, run_input).vocals))
        with torch.inference_mode():
            resynth = pipe.resynthesize(clean)
            mel_clean = pipe.vocoder_mel(clean.to(pipe.device))
            mel_resynth = pipe.vocoder_mel(resynth)
        distance = (mel_resynth - mel_clean).abs().mean().item() * _DB_PER_NEPER
        score = stoi(clean.numpy().astype(np.float64), resynth.cpu().numpy().astype(np.float64),
                     pipe.sample_rate, extended=False)
        return {"quality.vocoder_resynthesis_logmel_db": distance,
                "quality.vocoder_resynthesis_stoi": float(score)}
