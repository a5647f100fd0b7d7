"""Speaker similarity of the output vocals (Resemblyzer's GE2E encoder, ported)."""

from __future__ import annotations

import numpy as np

from avbench.evaluators.instruments import OUTPUT_PATH, instrument
from avbench.evaluators.references import references
from avbench.models.speaker_encoder import VoiceEmbedder, similarity
from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput


class SpeakerSimilarity:
    """``quality.speaker_similarity``: cosine between the GE2E embedding of the output vocals
    and the target voice's embedding (the voice profile: meaningful when the profile holds a
    GE2E embedding of the target, see docs/models.md; the built-in profiles are synthetic).
    ``quality.speaker_similarity_source``: the same against the source singer's clean
    vocals (how much of the source identity is left)."""

    name = "speaker"
    depends_on = OUTPUT_PATH

    def applies(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                measured: Measurement) -> bool:
        return measured.output is not None and "converted" in measured.output.state

    def evaluate(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                 measured: Measurement) -> dict[str, float]:
        embedder = instrument(ctx, "speaker", VoiceEmbedder)
        if embedder is None:
            return {}
        output = embedder.embed(measured.output.state["converted"].detach().float().cpu()
                                .numpy(), pipe.sample_rate)
        metrics = {}
        target = getattr(pipe, "speaker", None)
        if target is not None and target.numel() == output.size:
            metrics["quality.speaker_similarity"] = similarity(
                output, target.detach().float().cpu().numpy().reshape(-1))
        refs = references(ctx, pipe, run_input)
        if refs is not None:
            source = embedder.embed(np.asarray(refs.vocals), pipe.sample_rate)
            metrics["quality.speaker_similarity_source"] = similarity(output, source)
        return metrics
