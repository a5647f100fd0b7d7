"""HiFi-GAN generator (Kong et al. 2020), following the reference implementation.

conv_pre (k=7) -> per stage: leaky ReLU, transposed-conv upsampling, then
multi-receptive-field fusion (the mean of ``len(resblock_kernel_sizes)``
residual blocks with different kernels and dilations) -> leaky ReLU -> conv_post
(k=7) -> tanh. Every conv is weight-normed; ``remove_weight_norm`` folds the
norms for inference and export, as the reference does.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, prod

import torch.nn.functional as F
from torch import Tensor, nn

from avbench.models.weight_norm import remove_weight_norm, weight_norm

LRELU_SLOPE = 0.1


@dataclass(frozen=True)
class HiFiGANConfig:
    """Generator hyper-parameters, named as in the published ``config_v*.json``."""

    resblock: str
    upsample_rates: tuple[int, ...]
    upsample_kernel_sizes: tuple[int, ...]
    upsample_initial_channel: int
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if self.resblock not in ("1", "2"):
            raise ValueError(f"resblock must be '1' or '2', got {self.resblock!r}")
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise ValueError("upsample_rates and upsample_kernel_sizes differ in length")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise ValueError("resblock_kernel_sizes and resblock_dilation_sizes differ in length")
        for rate, kernel in zip(self.upsample_rates, self.upsample_kernel_sizes, strict=True):
            # Padding (k - u) / 2 gives exactly T * u output samples only when k - u is even.
            if kernel < rate or (kernel - rate) % 2:
                raise ValueError(f"upsample kernel {kernel} incompatible with rate {rate}")

    @property
    def hop_length(self) -> int:
        """Output samples per input mel frame."""
        return prod(self.upsample_rates)

    @property
    def receptive_radius(self) -> int:
        """Mel frames either side of a frame that its output samples depend on (rounded up).

        Per layer, its one-sided reach in its own samples divided by the samples per mel
        frame at its depth: conv_pre's 3; each upsampler's ``ceil(kernel / rate)`` inputs; the
        widest residual block's sum of ``dilation * (kernel - 1) / 2`` over its convolutions;
        conv_post's 3.
        """
        undilated = 1 if self.resblock == "1" else 0  # ResBlock1's second conv per dilation
        blocks = [sum((d + undilated) * (k - 1) / 2 for d in dilations)
                  for k, dilations in zip(self.resblock_kernel_sizes,
                                          self.resblock_dilation_sizes, strict=True)]
        radius, rate = 3.0, 1
        for up_rate, kernel in zip(self.upsample_rates, self.upsample_kernel_sizes, strict=True):
            radius += ceil(kernel / up_rate) / rate
            rate *= up_rate
            radius += max(blocks) / rate
        return ceil(radius + 3 / rate)


_V1 = HiFiGANConfig(
    resblock="1",
    upsample_rates=(8, 8, 2, 2),
    upsample_kernel_sizes=(16, 16, 4, 4),
    upsample_initial_channel=512,
    resblock_kernel_sizes=(3, 7, 11),
    resblock_dilation_sizes=((1, 3, 5), (1, 3, 5), (1, 3, 5)),
)
_CONFIGS = {
    "v1": _V1,
    "v2": HiFiGANConfig(
        resblock="1",
        upsample_rates=_V1.upsample_rates,
        upsample_kernel_sizes=_V1.upsample_kernel_sizes,
        upsample_initial_channel=128,
        resblock_kernel_sizes=_V1.resblock_kernel_sizes,
        resblock_dilation_sizes=_V1.resblock_dilation_sizes,
    ),
    "v3": HiFiGANConfig(
        resblock="2",
        upsample_rates=(8, 8, 4),
        upsample_kernel_sizes=(16, 16, 8),
        upsample_initial_channel=256,
        resblock_kernel_sizes=(3, 5, 7),
        resblock_dilation_sizes=((1, 2), (2, 6), (3, 12)),
    ),
}


def hifigan_config(version: str) -> HiFiGANConfig:
    """The published generator config for ``version`` in ``v1``, ``v2``, ``v3``."""
    try:
        return _CONFIGS[version]
    except KeyError:
        raise ValueError(
            f"unknown HiFi-GAN version {version!r}; valid: {', '.join(sorted(_CONFIGS))}"
        ) from None


def _same_padding(kernel_size: int, dilation: int) -> int:
    return (kernel_size * dilation - dilation) // 2


def _conv(channels: int, kernel_size: int, dilation: int) -> nn.Conv1d:
    return weight_norm(
        nn.Conv1d(
            channels,
            channels,
            kernel_size,
            dilation=dilation,
            padding=_same_padding(kernel_size, dilation),
        )
    )


class ResBlock1(nn.Module):
    """V1/V2 block: per dilation, lrelu -> dilated conv -> lrelu -> conv -> residual add.

    Shapes: ``(B, C, T) -> (B, C, T)``.
    """

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(_conv(channels, kernel_size, d) for d in dilations)
        self.convs2 = nn.ModuleList(_conv(channels, kernel_size, 1) for _ in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for conv1, conv2 in zip(self.convs1, self.convs2, strict=True):
            # In place on each conv's fresh output (neither is saved for backward): the same
            # sums as ``x + conv2(...)``, without a new tensor per step.
            residual = F.leaky_relu_(conv1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE)
            x = conv2(residual).add_(x)
        return x


class ResBlock2(nn.Module):
    """V3 block: per dilation, lrelu -> dilated conv -> residual add.

    Shapes: ``(B, C, T) -> (B, C, T)``.
    """

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(_conv(channels, kernel_size, d) for d in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            x = conv(F.leaky_relu(x, LRELU_SLOPE)).add_(x)  # in place: see ResBlock1
        return x


class HiFiGANGenerator(nn.Module):
    """Mel spectrogram -> waveform in ``[-1, 1]``.

    Shapes:
        mel ``(B, n_mels, T)`` -> ``(B, 1, T * hop_length)``.
    """

    def __init__(self, config: HiFiGANConfig, n_mels: int = 80) -> None:
        super().__init__()
        self.config = config
        resblock_cls = ResBlock1 if config.resblock == "1" else ResBlock2
        self.num_kernels = len(config.resblock_kernel_sizes)
        channels = config.upsample_initial_channel
        self.conv_pre = weight_norm(nn.Conv1d(n_mels, channels, 7, padding=3))

        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for rate, kernel in zip(config.upsample_rates, config.upsample_kernel_sizes, strict=True):
            self.ups.append(
                weight_norm(
                    nn.ConvTranspose1d(
                        channels, channels // 2, kernel, stride=rate, padding=(kernel - rate) // 2
                    )
                )
            )
            channels //= 2
            for kernel_size, dilations in zip(
                config.resblock_kernel_sizes, config.resblock_dilation_sizes, strict=True
            ):
                self.resblocks.append(resblock_cls(channels, kernel_size, dilations))
        self.conv_post = weight_norm(nn.Conv1d(channels, 1, 7, padding=3))
        # PyTorch's default conv init is kept on purpose: the reference's
        # ``init_weights`` (normal, std 0.01) runs after the hook-based weight
        # norm, edits a weight that the next forward recomputes from g and v, and
        # so has no effect; default init is what the reference actually trains from.

    @property
    def hop_length(self) -> int:
        """Output samples per input mel frame (product of the upsample rates)."""
        return self.config.hop_length

    def forward(self, mel: Tensor) -> Tensor:
        """``(B, n_mels, T)`` -> ``(B, 1, T * hop_length)`` waveform."""
        # Activations and sums run in place on tensors this forward just made and no
        # backward needs (as the reference accumulates its parallel blocks): the same
        # arithmetic in the same order as the reference, so bit-identical output, with
        # fewer allocations of the large late-stage tensors.
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu_(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            # Multi-receptive-field fusion: the mean of the parallel blocks.
            fused = blocks[0](x)
            for block in blocks[1:]:
                fused += block(x)
            x = fused.div_(self.num_kernels)
        # The reference uses the default slope (0.01) here, not LRELU_SLOPE.
        return self.conv_post(F.leaky_relu_(x)).tanh_()

    def remove_weight_norm(self) -> None:
        """Fold every weight norm into a plain conv weight (call before export)."""
        remove_weight_norm(self)
