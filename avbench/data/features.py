"""Training features as a TTS/SVC recipe computes them: resample, log-mel and YIN F0.

``FeatureSettings.key()`` names everything that makes a cached feature valid (settings,
kernel, the feature code's version, torch's version); the cache adds each source file's
size and mtime.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Bump when the feature code changes meaning: it is part of every cache key.
FEATURE_VERSION = 1


@dataclass(frozen=True)
class FeatureSettings:
    """Feature parameters; audio is resampled to ``sample_rate`` before anything else."""

    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 80
    frame_length: int = 2048  # YIN analysis window
    fmin: float = 65.0
    fmax: float = 1000.0
    kernel: str = "torch"

    @classmethod
    def from_config(cls, data_cfg: Any) -> FeatureSettings:
        return cls(int(data_cfg.sample_rate), int(data_cfg.n_fft), int(data_cfg.hop_length),
                   int(data_cfg.n_mels), int(data_cfg.frame_length), float(data_cfg.fmin),
                   float(data_cfg.fmax))

    def key(self) -> str:
        """Short hash of the settings, the feature version and the torch version."""
        import torch

        facts = asdict(self) | {"version": FEATURE_VERSION, "torch": torch.__version__}
        digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
        return digest[:16]


@dataclass
class Features:
    """One clip's features: ``mel (frames, n_mels)`` and ``f0_hz (frames,)``, float32."""

    mel: np.ndarray
    f0_hz: np.ndarray  # 0 where YIN finds no voicing


class FeatureExtractor:
    """Builds the DSP modules once; ``(samples,)`` audio at ``sample_rate`` -> Features."""

    def __init__(self, settings: FeatureSettings) -> None:
        import torch

        from avbench.dsp.modules import LogMel, YinPitch

        self.settings = settings
        self._torch = torch
        self.log_mel = LogMel(settings.sample_rate, settings.n_fft, settings.hop_length,
                              settings.n_mels, kernel=settings.kernel)
        self.yin = YinPitch(settings.sample_rate, settings.frame_length, settings.hop_length,
                            settings.fmin, settings.fmax, kernel=settings.kernel)

    def __call__(self, audio: np.ndarray) -> Features:
        s = self.settings
        n = max(len(audio), s.frame_length)  # YIN needs one full window
        signal = np.zeros(n, dtype=np.float32)
        signal[: len(audio)] = audio
        with self._torch.inference_mode():
            waveform = self._torch.from_numpy(signal)
            mel = self.log_mel(waveform).T.contiguous().numpy()
            f0, voiced = self.yin(waveform)
            f0_hz = (f0 * voiced).numpy().astype(np.float32)
        frames = 1 + len(audio) // s.hop_length
        return Features(np.ascontiguousarray(mel[:frames], dtype=np.float32), f0_hz[:frames])

    def from_file(self, path: str | Path) -> Features:
        """Decode (any rate, any channels), resample to ``sample_rate``, extract."""
        from avbench.audio.io import load_audio

        return self(load_audio(path, self.settings.sample_rate))
