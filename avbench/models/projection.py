"""Projection from the flow's latent space to the vocoder's mel spectrogram."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class MelProjection(nn.Module):
    """Latent -> log-mel: a 1x1 conv plus a small residual conv refining it.

    The 1x1 conv alone is a per-frame linear map; the residual k=3 conv lets
    neighbouring frames smooth the result, which a vocoder conditioned on mels
    with frame-to-frame jitter otherwise turns into audible buzz.

    Shapes:
        h ``(B, hidden, T)`` -> ``(B, n_mels, T)``.
    """

    def __init__(self, hidden: int = 192, n_mels: int = 80) -> None:
        super().__init__()
        self.proj = nn.Conv1d(hidden, n_mels, 1)
        self.refine = nn.Conv1d(n_mels, n_mels, 3, padding=1)

    def forward(self, h: Tensor) -> Tensor:
        """``(B, hidden, T)`` -> ``(B, n_mels, T)``."""
        mel = self.proj(h)
        return mel + self.refine(F.gelu(mel))
