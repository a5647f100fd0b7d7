"""Spectrogram-mask U-Net for vocal / accompaniment separation.

Follows Jansson et al. 2017 ("Singing voice separation with deep U-Net
convolutional networks") as popularised by Spleeter: a 2-D U-Net over
(frequency, time) whose encoder halves both axes with 5x5 stride-2
convolutions, whose decoder doubles them back with transposed convolutions and
skip connections, and whose sigmoid output is a soft vocal mask. The
accompaniment mask is ``1 - mask``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_KERNEL = 5
_PADDING = _KERNEL // 2
# Spleeter uses leaky ReLU 0.2 in the encoder and ReLU in the decoder.
_ENCODER_SLOPE = 0.2


class _EncoderBlock(nn.Sequential):
    """Strided conv2d + batch norm + leaky ReLU: (B, C_in, F, T) -> (B, C_out, F/2, T/2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, _KERNEL, stride=2, padding=_PADDING),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(_ENCODER_SLOPE),
        )


class _DecoderBlock(nn.Sequential):
    """Transposed conv2d + batch norm + ReLU: (B, C_in, F, T) -> (B, C_out, 2F, 2T)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            # output_padding=1 makes the output exactly twice the input on both axes.
            nn.ConvTranspose2d(
                in_channels, out_channels, _KERNEL, stride=2, padding=_PADDING, output_padding=1
            ),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )


class SpectrogramUNet(nn.Module):
    """Soft vocal-mask U-Net over a linear STFT magnitude.

    Args:
        n_freq: number of frequency bins (``n_fft // 2 + 1``); only recorded for
            shape checks by callers, the network accepts any size.
        base_channels: channels of the first encoder level; level ``i`` has
            ``base_channels * 2**i``.
        depth: number of down-sampling levels. Inputs are padded inside
            ``forward`` to a multiple of ``2**depth`` on both axes.

    Shapes:
        magnitude ``(B, n_freq, T)`` -> mask ``(B, n_freq, T)`` in ``[0, 1]``.
    """

    def __init__(self, n_freq: int, base_channels: int = 16, depth: int = 3) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.n_freq = n_freq
        self.depth = depth
        channels = [base_channels * 2**level for level in range(depth)]

        self.encoder = nn.ModuleList(
            _EncoderBlock(c_in, c_out)
            for c_in, c_out in zip([1, *channels[:-1]], channels, strict=True)
        )
        # Decoder level i (deepest first) maps back to encoder level i-1's width;
        # every level but the deepest receives its input concatenated with the skip.
        decoder = []
        for level in reversed(range(depth)):
            in_channels = channels[level] * (1 if level == depth - 1 else 2)
            out_channels = channels[level - 1] if level > 0 else base_channels
            decoder.append(_DecoderBlock(in_channels, out_channels))
        self.decoder = nn.ModuleList(decoder)
        self.head = nn.Conv2d(base_channels, 1, 3, padding=1)

    def forward(self, magnitude: Tensor) -> Tensor:
        """``(B, n_freq, T)`` magnitude -> ``(B, n_freq, T)`` vocal mask in ``[0, 1]``."""
        n_freq, n_frames = magnitude.shape[-2], magnitude.shape[-1]
        multiple = 2**self.depth
        # Shape arithmetic (not branches) so the exported graph keeps T dynamic; round-up
        # division rather than modulo, which OpenVINO does not take on int64 shapes.
        pad_freq = (n_freq + multiple - 1) // multiple * multiple - n_freq
        pad_time = (n_frames + multiple - 1) // multiple * multiple - n_frames
        # log1p compresses the dynamic range without a floor constant that
        # would depend on the input scale.
        x = F.pad(torch.log1p(magnitude).unsqueeze(1), (0, pad_time, 0, pad_freq))

        skips: list[Tensor] = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        skips.pop()  # the deepest activation is x itself, not a skip

        for block in self.decoder[:-1]:
            x = torch.cat([block(x), skips.pop()], dim=1)
        x = self.decoder[-1](x)
        mask = torch.sigmoid(self.head(x))
        return mask[:, 0, :n_freq, :n_frames]
