"""What the quality evaluators judge against: the known stems of the input and F0 labels.

A synthetic song carries its stems and exact F0 labels. A real file (``audio.path``) has
references only when ``audio.vocals_path`` names its vocal stem: the accompaniment is then
the mixture minus the vocals, and the F0 labels are the pipeline's own F0 method run on the
reference vocals (``labels`` says which).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from avbench.audio.io import load_audio
from avbench.pipelines.base import Pipeline
from avbench.run_types import RunContext, RunInput

SYNTHETIC_LABELS = "synthetic score (exact)"


@dataclass
class References:
    vocals: np.ndarray
    accompaniment: np.ndarray
    f0_hz: np.ndarray | None
    voiced: np.ndarray | None
    labels: str  # how the F0 labels were made


def references(ctx: RunContext, pipe: Pipeline, run_input: RunInput) -> References | None:
    """The input's reference stems and F0 labels, or None when the input has none."""
    song = run_input.song
    if song is not None:
        return References(song.vocals, song.accompaniment, song.f0_hz, song.voiced,
                          SYNTHETIC_LABELS)
    path = ctx.cfg.audio.get("vocals_path")
    if not path:
        return None
    mix = run_input.audio.detach().cpu().numpy()
    vocals = load_audio(path, pipe.sample_rate)
    if len(vocals) != len(mix):
        raise ValueError(f"audio.vocals_path has {len(vocals)} samples at {pipe.sample_rate} Hz "
                         f"but audio.path has {len(mix)}; give the vocal stem of that mixture")
    f0_hz = voiced = None
    labels = "none"
    if hasattr(pipe, "extract_f0"):
        with torch.inference_mode():
            f0, on = pipe.extract_f0(torch.from_numpy(vocals))
        f0_hz, voiced = f0.cpu().numpy(), on.cpu().numpy()
        labels = f"{getattr(pipe, 'f0_method', 'yin')} on audio.vocals_path"
    return References(vocals, mix - vocals, f0_hz, voiced, labels)
