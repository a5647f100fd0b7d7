"""Content and pitch encoders of the singing-voice-conversion model.

``ContentEncoder`` stands in for a soft-VC / ContentVec projection: a
convolutional pre-net followed by residual (conv1d, channel layer norm, GELU)
blocks turning a log-mel spectrogram into speaker-independent content features.

``PitchEncoder`` turns an F0 track into features of the same width. Instead of
the usual bucketize + embedding lookup (awkward in ONNX / TensorRT), it feeds a
continuous normalised log-F0, its Fourier features and a voiced flag to a small
conv stack; the Fourier features give the convolution the same "one vector per
pitch" expressiveness that an embedding table has.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Sin/cos pairs of the normalised log-F0, with periods from twice the range down
# to a quarter of it (about 13 semitones for 50-1100 Hz): enough for the 1x1
# conv to form pitch-selective responses, the role an embedding table plays.
_N_FOURIER = 8


class ChannelLayerNorm(nn.LayerNorm):
    """Layer norm over the channel axis of a ``(B, C, T)`` tensor."""

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, T) -> (B, C, T)``."""
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class _ResidualConvBlock(nn.Module):
    """``x + GELU(LayerNorm(Conv1d(x)))`` with "same" padding: ``(B, C, T) -> (B, C, T)``."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.norm = ChannelLayerNorm(channels)

    def forward(self, x: Tensor) -> Tensor:
        return x + F.gelu(self.norm(self.conv(x)))


class ContentEncoder(nn.Module):
    """Log-mel -> content features.

    Args:
        n_mels: input mel bands.
        hidden: output (and internal) channels.
        n_layers: residual conv blocks.
        kernel_size: odd temporal kernel of every conv.

    Shapes:
        mel ``(B, n_mels, T)`` -> ``(B, hidden, T)``.
    """

    def __init__(
        self, n_mels: int = 80, hidden: int = 192, n_layers: int = 4, kernel_size: int = 5
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep T unchanged, got {kernel_size}")
        self.pre = nn.Conv1d(n_mels, hidden, kernel_size, padding=kernel_size // 2)
        self.pre_norm = ChannelLayerNorm(hidden)
        self.blocks = nn.ModuleList(
            _ResidualConvBlock(hidden, kernel_size) for _ in range(n_layers)
        )
        self.post = nn.Conv1d(hidden, hidden, 1)

    def forward(self, mel: Tensor) -> Tensor:
        """``(B, n_mels, T)`` log-mel -> ``(B, hidden, T)`` content features."""
        x = F.gelu(self.pre_norm(self.pre(mel)))
        for block in self.blocks:
            x = block(x)
        return self.post(x)


class PitchEncoder(nn.Module):
    """F0 in Hz -> pitch features.

    Args:
        hidden: output channels.
        f0_min_hz, f0_max_hz: range mapped to normalised log-F0 ``[0, 1]``;
            voiced values outside it are clamped.

    Shapes:
        f0_hz ``(B, T)`` (0 where unvoiced) -> ``(B, hidden, T)``.
    """

    def __init__(
        self, hidden: int = 192, f0_min_hz: float = 50.0, f0_max_hz: float = 1100.0
    ) -> None:
        super().__init__()
        if not 0.0 < f0_min_hz < f0_max_hz:
            raise ValueError(f"need 0 < f0_min_hz < f0_max_hz, got {f0_min_hz}, {f0_max_hz}")
        self.f0_min_hz = f0_min_hz
        self.f0_max_hz = f0_max_hz
        self._log_min = math.log(f0_min_hz)
        self._log_span = math.log(f0_max_hz) - self._log_min
        n_features = 2 + 2 * _N_FOURIER  # log-F0, voiced flag, sin/cos pairs
        self.proj_in = nn.Conv1d(n_features, hidden, 1)
        self.proj_out = nn.Conv1d(hidden, hidden, 3, padding=1)

    def features(self, f0_hz: Tensor) -> Tensor:
        """``(B, T)`` F0 in Hz -> ``(B, 2 + 2 * 8, T)`` float32 pitch features.

        Computed in float32 whatever the module dtype: in bf16 the phase of the
        highest Fourier feature (up to 8 pi rad) would carry ~0.1 rad of rounding error.
        """
        f0 = f0_hz.float().unsqueeze(1)
        voiced = (f0 > 0).float()
        # clamp before log: unvoiced frames (0 Hz) would give -inf.
        log_f0 = torch.log(f0.clamp(min=self.f0_min_hz, max=self.f0_max_hz))
        norm = (log_f0 - self._log_min) / self._log_span * voiced
        # Built here, not as a buffer, so module.to(bf16) cannot round the frequencies.
        angular = math.pi * torch.arange(1, _N_FOURIER + 1, device=f0.device, dtype=f0.dtype)
        phase = norm * angular.view(1, _N_FOURIER, 1)
        # Unvoiced frames get all-zero Fourier features, distinct from any pitch.
        return torch.cat([norm, voiced, torch.sin(phase) * voiced, torch.cos(phase) * voiced], 1)

    def forward(self, f0_hz: Tensor) -> Tensor:
        """``(B, T)`` F0 in Hz (0 = unvoiced) -> ``(B, hidden, T)`` of ``f0_hz.dtype``."""
        features = self.features(f0_hz).to(f0_hz.dtype)
        return self.proj_out(F.gelu(self.proj_in(features)))
