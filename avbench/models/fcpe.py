"""FCPE (Fast Context-based Pitch Estimation, CNChTu; torchfcpe 0.0.4), ported with its weights.

The bundled model ``fcpe_c_v001`` is ``CFNaiveMelPE`` with ``conv_only=True``: a 128-band
log-mel at 16 kHz (n_fft = win = 1024, hop 160, 0-8 kHz, magnitude, log of clamp 1e-5,
reflect-padded by 432 samples each side, uncentred frames), two convolutions with a group
norm, six conformer convolution modules (layer norm, pointwise conv + GLU, depthwise k=31,
SiLU, pointwise conv; residual), a layer norm, a weight-normed linear layer to 360 pitch
classes on a cent grid from 32.7 to 1975.5 Hz, and a sigmoid. F0 is read with torchfcpe's
``local_argmax`` decoder: the salience-weighted mean cent over the 9 classes around the peak;
a frame whose peak is at most ``threshold`` (0.006, torchfcpe's default) is unvoiced.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avbench.dsp.modules import LogMel
from avbench.models.pretrained import WEIGHTS, converted
from avbench.models.weight_norm import weight_norm

SAMPLE_RATE = 16000
N_FFT = 1024
HOP_LENGTH = 160
N_MELS = 128
F_MAX_HZ = 8000.0
HIDDEN = 512
N_LAYERS = 6
N_CLASSES = 360
F0_MIN_HZ, F0_MAX_HZ = 32.70, 1975.5
THRESHOLD = 0.006
WEIGHT_KEY = "fcpe"


class _ConvModule(nn.Module):
    """The conformer's convolution module, ``(B, T, C) -> (B, T, C)`` (torchfcpe's layout)."""

    def __init__(self, dim: int, kernel_size: int = 31) -> None:
        super().__init__()
        inner = 2 * dim
        self.norm = nn.LayerNorm(dim)
        self.pointwise_in = nn.Conv1d(dim, 2 * inner, 1)
        self.depthwise = nn.Conv1d(inner, inner, kernel_size, padding=kernel_size // 2,
                                   groups=inner)
        self.pointwise_out = nn.Conv1d(inner, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        y = self.pointwise_in(self.norm(x).transpose(1, 2))
        y = F.silu(self.depthwise(F.glu(y, dim=1)))
        return self.pointwise_out(y).transpose(1, 2)


class FCPE(nn.Module):
    """``(B, 128, T)`` FCPE log-mel -> ``(B, T)`` F0 in Hz, 0 where unvoiced."""

    cent_table: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.input_stack = nn.Sequential(
            nn.Conv1d(N_MELS, HIDDEN, 3, padding=1), nn.GroupNorm(4, HIDDEN), nn.LeakyReLU(),
            nn.Conv1d(HIDDEN, HIDDEN, 3, padding=1))
        self.layers = nn.ModuleList(_ConvModule(HIDDEN) for _ in range(N_LAYERS))
        self.norm = nn.LayerNorm(HIDDEN)
        self.output_proj = weight_norm(nn.Linear(HIDDEN, N_CLASSES))
        cents = 1200.0 * torch.log2(torch.tensor([F0_MIN_HZ, F0_MAX_HZ]) / 10.0)
        self.register_buffer("cent_table", torch.linspace(float(cents[0]), float(cents[1]),
                                                          N_CLASSES))

    def salience(self, mel: Tensor) -> Tensor:
        """``(B, 128, T)`` -> ``(B, T, 360)`` class saliences in [0, 1]."""
        x = self.input_stack(mel).transpose(1, 2)
        for layer in self.layers:
            x = x + layer(x)
        return torch.sigmoid(self.output_proj(self.norm(x)))

    def forward(self, mel: Tensor) -> Tensor:
        y = self.salience(mel)
        confidence, peak = y.max(dim=-1, keepdim=True)
        index = (peak + torch.arange(-4, 5, device=y.device)).clamp(0, N_CLASSES - 1)
        weights = torch.gather(y, -1, index)
        cents = (self.cent_table.to(y.dtype)[index] * weights).sum(-1) / weights.sum(-1)
        f0_hz = 10.0 * torch.pow(2.0, cents / 1200.0)
        return torch.where(confidence[..., 0] > THRESHOLD, f0_hz, torch.zeros_like(f0_hz))


class FCPEMel(nn.Module):
    """FCPE's input mel through ``avbench.dsp``: ``(..., samples at 16 kHz) -> (..., 128, T)``
    with ``T = samples // 160``."""

    def __init__(self, kernel: str = "torch") -> None:
        super().__init__()
        self.mel = LogMel(SAMPLE_RATE, N_FFT, HOP_LENGTH, N_MELS, f_max=F_MAX_HZ, center=False,
                          kernel=kernel, power=1.0, floor=1e-5)

    def forward(self, waveform: Tensor) -> Tensor:
        pad = (N_FFT - HOP_LENGTH) // 2
        shape = waveform.shape
        padded = F.pad(waveform.reshape(-1, 1, shape[-1]), (pad, pad), mode="reflect")
        return self.mel(padded.reshape(*shape[:-1], -1))


_RENAMES = {"conformer.net.0.": "norm.", "conformer.net.2.": "pointwise_in.",
            "conformer.net.4.conv.": "depthwise.", "conformer.net.6.": "pointwise_out."}


def _convert(path: Path) -> dict[str, Tensor]:
    # torchfcpe's file also holds its training config (plain Python objects): the digest was
    # verified by fetch; only the model's tensors are kept, renamed to this port's layout.
    state = torch.load(path, map_location="cpu", weights_only=False)["model"]
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key == "gaussian_blurred_cent_mask" or (key.startswith("net.encoder_layers.")
                                                   and ".norm." in key):
            continue  # a training-only constant; each layer's attention norm (conv_only: unused)
        key = key.replace("net.encoder_layers.", "layers.")
        for old, new in _RENAMES.items():
            key = key.replace(old, new)
        key = key.replace("output_proj.weight_g", "output_proj.parametrizations.weight.original0")
        key = key.replace("output_proj.weight_v", "output_proj.parametrizations.weight.original1")
        out[key] = value
    return out


def load_pretrained(model: FCPE, cache_dir: str | os.PathLike[str]) -> str:
    """Load torchfcpe's bundled weights strictly; returns the weights tag."""
    model.load_state_dict(converted(WEIGHT_KEY, (WEIGHT_KEY,), _convert, cache_dir), strict=True)
    return WEIGHTS[WEIGHT_KEY].tag
