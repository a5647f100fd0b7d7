"""Small instances of every model with matching random inputs, shared by the model tests.

Sizes are tiny so the whole suite runs in seconds on CPU; the architecture
(number of levels, layers, blocks) is kept, only widths shrink.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from avbench.models import (
    ContentEncoder,
    HiFiGANGenerator,
    MelProjection,
    PitchEncoder,
    ResidualCouplingFlow,
    SpectrogramUNet,
    hifigan_config,
)

N_FREQ = 33
N_MELS = 16
HIDDEN = 24
FLOW_CHANNELS = 8
GIN = 12


def voiced_f0(batch: int, frames: int) -> Tensor:
    """F0 in Hz over 60-1000 Hz with every third frame unvoiced (0)."""
    f0 = 60.0 + 940.0 * torch.rand(batch, frames)
    f0[:, ::3] = 0.0
    return f0


@dataclass(frozen=True)
class ModelCase:
    """A model factory, an input factory ``(batch, frames) -> inputs`` and axis names."""

    name: str
    build: Callable[[], nn.Module]
    inputs: Callable[[int, int], tuple[Tensor, ...]]
    input_names: tuple[str, ...]
    time_axes: tuple[int | None, ...]  # time axis of each input, None = no time axis
    out_channels: int
    frames_out: Callable[[int], int] = lambda frames: frames


CASES = [
    ModelCase(
        "separation",
        lambda: SpectrogramUNet(N_FREQ, base_channels=4, depth=3),
        lambda b, t: (3.0 * torch.rand(b, N_FREQ, t),),
        ("magnitude",),
        (2,),
        N_FREQ,
    ),
    ModelCase(
        "content",
        lambda: ContentEncoder(n_mels=N_MELS, hidden=HIDDEN, n_layers=2),
        lambda b, t: (torch.randn(b, N_MELS, t),),
        ("mel",),
        (2,),
        HIDDEN,
    ),
    ModelCase(
        "pitch",
        lambda: PitchEncoder(hidden=HIDDEN),
        lambda b, t: (voiced_f0(b, t),),
        ("f0_hz",),
        (1,),
        HIDDEN,
    ),
    ModelCase(
        "flow",
        lambda: ResidualCouplingFlow(
            channels=FLOW_CHANNELS, hidden=16, n_layers=2, n_flows=2, gin_channels=GIN
        ),
        lambda b, t: (torch.randn(b, FLOW_CHANNELS, t), torch.randn(b, GIN, 1)),
        ("x", "g"),
        (2, None),
        FLOW_CHANNELS,
    ),
    ModelCase(
        "projection",
        lambda: MelProjection(hidden=HIDDEN, n_mels=N_MELS),
        lambda b, t: (torch.randn(b, HIDDEN, t),),
        ("h",),
        (2,),
        N_MELS,
    ),
    *(
        ModelCase(
            f"hifigan_{version}",
            lambda version=version: HiFiGANGenerator(hifigan_config(version), n_mels=N_MELS),
            lambda b, t: (torch.randn(b, N_MELS, t) - 4.0,),
            ("mel",),
            (2,),
            1,
            lambda frames: frames * 256,
        )
        for version in ("v1", "v2", "v3")
    ),
]
CASE_IDS = [case.name for case in CASES]
# HiFi-GAN v1 is v2 at four times the width (same code path): the slow checks
# (export, low precision) skip it to keep the suite quick.
LIGHT_CASES = [case for case in CASES if case.name != "hifigan_v1"]
LIGHT_CASE_IDS = [case.name for case in LIGHT_CASES]


def build_eval(case: ModelCase, seed: int = 0) -> nn.Module:
    """The case's model, seeded and in eval mode."""
    torch.manual_seed(seed)
    return case.build().eval()
