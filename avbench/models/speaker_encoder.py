"""The GE2E speaker encoder of Resemblyzer 0.1.4 (Wan et al. 2018; Resemble AI), ported.

Three LSTM layers (40 -> 256 -> 256 -> 256) over 40-band mel power frames (16 kHz, 25 ms
Hann windows every 10 ms), a linear layer and ReLU on the last layer's final hidden state,
L2-normalised: a 256-d speaker embedding. An utterance is cut into 1.6 s partials (1.3 per
second, the last kept when at least 75 % covered), embedded, averaged and renormalised, as
``VoiceEncoder.embed_utterance`` does. The audio is raised to -30 dBFS when quieter, as
Resemblyzer's ``preprocess_wav`` does; its WebRTC voice-activity trimming is not ported
(webrtcvad is a C extension), so long silences count here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from avbench.audio.io import resample
from avbench.dsp import functional as fn
from avbench.models.pretrained import WEIGHTS, converted

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP_LENGTH = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s
TARGET_DBFS = -30.0
WEIGHT_KEY = "resemblyzer"


class SpeakerEncoder(nn.Module):
    """``(B, frames, 40)`` mel power -> ``(B, 256)`` unit-norm embeddings."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, 256)

    def forward(self, mels: Tensor) -> Tensor:
        _, (hidden, _) = self.lstm(mels)
        embeds = torch.relu(self.linear(hidden[-1]))
        return embeds / embeds.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _convert(path: Path) -> dict[str, Tensor]:
    # Resemblyzer's file also holds its optimiser state (pickled objects): its digest was
    # verified by fetch, and only the encoder's tensors are kept.
    state = torch.load(path, map_location="cpu", weights_only=False)["model_state"]
    return {k: v for k, v in state.items() if k.startswith(("lstm.", "linear."))}


def partial_slices(n_samples: int, rate: float = 1.3, min_coverage: float = 0.75
                   ) -> list[slice]:
    """Mel-frame slices of the partial utterances (Resemblyzer's ``compute_partial_slices``)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP_LENGTH))
    step = int(np.round((SAMPLE_RATE / rate) / HOP_LENGTH))
    slices = [slice(i, i + PARTIAL_FRAMES)
              for i in range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step)]
    last = slices[-1]
    coverage = (n_samples - last.start * HOP_LENGTH) / (PARTIAL_FRAMES * HOP_LENGTH)
    if coverage < min_coverage and len(slices) > 1:
        slices = slices[:-1]
    return slices


class VoiceEmbedder:
    """``VoiceEmbedder(cache_dir).embed(audio, sample_rate) -> (256,)`` unit-norm numpy."""

    def __init__(self, cache_dir: str | os.PathLike[str]) -> None:
        self.encoder = SpeakerEncoder()
        self.encoder.load_state_dict(converted(WEIGHT_KEY, (WEIGHT_KEY,), _convert, cache_dir),
                                     strict=True)
        self.encoder.eval().requires_grad_(False)
        self.tag = WEIGHTS[WEIGHT_KEY].tag
        self.window = fn.hann_window(N_FFT)
        self.mel_basis = fn.mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS)

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        wav = resample(np.asarray(audio, dtype=np.float32), sample_rate, SAMPLE_RATE)
        rms_dbfs = 20 * np.log10(max(float(np.sqrt(np.mean(wav.astype(np.float64) ** 2))),
                                     1e-9))
        if rms_dbfs < TARGET_DBFS:
            wav = (wav * 10 ** ((TARGET_DBFS - rms_dbfs) / 20)).astype(np.float32)
        slices = partial_slices(len(wav))
        wav = np.pad(wav, (0, max(0, slices[-1].stop * HOP_LENGTH - len(wav))))
        power = fn.power_spectrogram(torch.from_numpy(wav), N_FFT, HOP_LENGTH, self.window)
        mels = (self.mel_basis.T @ power).T  # (frames, 40), librosa's centred frames
        with torch.inference_mode():
            partials = self.encoder(torch.stack([mels[s] for s in slices]))
        embed = partials.mean(dim=0)
        return (embed / embed.norm()).numpy()


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings."""
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
