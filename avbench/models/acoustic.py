"""FastSpeech 2 acoustic model parts (Ren et al. 2021): text encoder, duration predictor,
mel decoder. Channel-first tensors at every boundary, as the backends export them.

FFT block (post-norm, as the paper): x + self-attention -> LayerNorm -> x + conv FFN
(conv k=9 -> ReLU -> conv k=1) -> LayerNorm. Sinusoidal positions. Attention is
written out (matmul, softmax) so it exports to ONNX on every opset we use.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def sinusoid_table(length: int, channels: int) -> Tensor:
    """``(length, channels)`` sinusoidal position encodings (Vaswani et al. 2017)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, channels, 2, dtype=torch.float32)
                     * (-math.log(10000.0) / channels))
    table = torch.zeros(length, channels)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)
    return table


class SelfAttention(nn.Module):
    """Multi-head self-attention over ``(B, T, C)``."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"hidden={channels} is not divisible by heads={heads}")
        self.heads = heads
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        batch, length, channels = x.shape
        q, k, v = self.qkv(x).reshape(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(channels // self.heads)
        context = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.out(context.transpose(1, 2).reshape(batch, length, channels))


class FFTBlock(nn.Module):
    """Feed-forward Transformer block: ``(B, T, C) -> (B, T, C)``."""

    def __init__(self, channels: int, heads: int, filter_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.attention = SelfAttention(channels, heads)
        self.norm1 = nn.LayerNorm(channels)
        self.conv1 = nn.Conv1d(channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.conv2 = nn.Conv1d(filter_channels, channels, 1)
        self.norm2 = nn.LayerNorm(channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm1(x + self.attention(x))
        y = self.conv2(F.relu(self.conv1(x.transpose(1, 2)))).transpose(1, 2)
        return self.norm2(x + y)


class FFTStack(nn.Module):
    """Positions + FFT blocks on channel-first input: ``(B, C, T) -> (B, C, T)``."""

    def __init__(self, channels: int, layers: int, heads: int, filter_channels: int,
                 kernel_size: int, max_length: int) -> None:
        super().__init__()
        self.register_buffer("positions", sinusoid_table(max_length, channels), persistent=False)
        self.blocks = nn.ModuleList(FFTBlock(channels, heads, filter_channels, kernel_size)
                                    for _ in range(layers))

    def forward(self, x: Tensor) -> Tensor:
        x = x.transpose(1, 2)
        x = x + self.positions[: x.shape[1]].to(x.dtype)
        for block in self.blocks:
            x = block(x)
        return x.transpose(1, 2)


class TextEncoder(nn.Module):
    """Phoneme ids ``(B, T)`` int64 -> hidden ``(B, C, T)``."""

    def __init__(self, n_symbols: int, channels: int, layers: int, heads: int,
                 filter_channels: int, kernel_size: int, max_tokens: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_symbols, channels, padding_idx=0)
        self.stack = FFTStack(channels, layers, heads, filter_channels, kernel_size, max_tokens)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.stack(self.embedding(tokens).transpose(1, 2))


class DurationPredictor(nn.Module):
    """FastSpeech 2 variance predictor: 2 x (conv k=3, ReLU, LayerNorm) -> linear.
    Hidden ``(B, C, T)`` -> log durations in frames ``(B, T)``.

    ``mean_log_frames`` initialises the output bias: a seeded predictor then predicts
    about exp(mean_log_frames) frames per phoneme, a speaking rate like trained models'.
    """

    def __init__(self, channels: int, filter_channels: int = 256, kernel_size: int = 3,
                 mean_log_frames: float = math.log(6.0)) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.norm1 = nn.LayerNorm(filter_channels)
        self.conv2 = nn.Conv1d(filter_channels, filter_channels, kernel_size,
                               padding=kernel_size // 2)
        self.norm2 = nn.LayerNorm(filter_channels)
        self.linear = nn.Linear(filter_channels, 1)
        nn.init.constant_(self.linear.bias, mean_log_frames)

    def forward(self, hidden: Tensor) -> Tensor:
        x = self.norm1(F.relu(self.conv1(hidden)).transpose(1, 2)).transpose(1, 2)
        x = self.norm2(F.relu(self.conv2(x)).transpose(1, 2))
        return self.linear(x).squeeze(-1)


class MelDecoder(nn.Module):
    """Frame-level hidden ``(B, C, frames)`` -> mel ``(B, n_mels, frames)``."""

    def __init__(self, channels: int, n_mels: int, layers: int, heads: int,
                 filter_channels: int, kernel_size: int, max_frames: int) -> None:
        super().__init__()
        self.stack = FFTStack(channels, layers, heads, filter_channels, kernel_size, max_frames)
        self.projection = nn.Conv1d(channels, n_mels, 1)

    def forward(self, hidden: Tensor) -> Tensor:
        return self.projection(self.stack(hidden))


def regulate_length(hidden: Tensor, log_durations: Tensor, max_frames: int,
                    speed: float = 1.0) -> tuple[Tensor, Tensor]:
    """FastSpeech's length regulator: each phoneme's hidden vector repeated for its
    duration, round(exp(log d) / speed) clamped to >= 1 frame. ``(1, C, T)`` ->
    ``(1, C, frames)`` and the durations ``(T,)``."""
    durations = torch.clamp(torch.round(torch.exp(log_durations.float()) / speed), min=1)[0]
    durations = durations.long()
    frames = int(durations.sum())
    if frames > max_frames:
        raise ValueError(f"{frames} mel frames exceed the decoder's limit of {max_frames}; "
                         "use shorter utterances")
    return torch.repeat_interleave(hidden, durations, dim=-1), durations
