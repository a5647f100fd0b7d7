"""The SVC pipeline's neural components: built seeded, then pretrained weights where they exist.

``weights="pretrained"`` loads real weights into the components that have public ones:
separation (Spleeter's 2-stem U-Nets, in every preset: its architecture is fixed by the
checkpoint, so the preset's separation sizes apply to the seeded U-Net only) and the vocoder
when the preset asks for HiFi-GAN V1 (the universal checkpoint; V2/V3 have no weights in a
package we can take, and stay seeded). The content encoder, pitch encoder, flow decoder and
mel projection have no public weights and stay seeded. With ``f0_method="fcpe"`` the F0
method is a neural component too (``f0``: torchfcpe's bundled FCPE). ``weights="seeded"``:
all seeded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from avbench.models import (
    ContentEncoder,
    HiFiGANGenerator,
    MelProjection,
    PitchEncoder,
    ResidualCouplingFlow,
    SpectrogramUNet,
    fcpe,
    hifigan_config,
    hifigan_pretrained,
    spleeter,
)
from avbench.pipelines.settings import SVCSettings

WEIGHT_CHOICES = ("pretrained", "seeded")
SEEDED = "seeded"


@dataclass(frozen=True)
class SeparationGrid:
    """The STFT the separation component works on."""

    n_fft: int
    hop_length: int


def build_modules(s: SVCSettings, seed: int, weights: str,
                  cache_dir: str | os.PathLike[str] | None
                  ) -> tuple[dict[str, nn.Module], dict[str, str], SeparationGrid]:
    """(modules, ``{component: weights tag}``, the separation's STFT grid)."""
    if weights not in WEIGHT_CHOICES:
        raise ValueError(f"weights={weights!r} is not one of {', '.join(WEIGHT_CHOICES)}")
    pretrained = weights == "pretrained"
    modules = seeded_modules(s, seed, spleeter_separation=pretrained)
    tags = dict.fromkeys(modules, SEEDED)
    grid = SeparationGrid(s.n_fft, s.hop_length)
    if pretrained:
        if cache_dir is None:
            raise ValueError("weights=pretrained needs a weights cache directory")
        tags["separation"] = spleeter.load_pretrained(modules["separation"], cache_dir)
        grid = SeparationGrid(spleeter.N_FFT, spleeter.HOP_LENGTH)
        if "f0" in modules:
            tags["f0"] = fcpe.load_pretrained(modules["f0"], cache_dir)
        if s.vocoder == "v1" and s.n_mels == hifigan_pretrained.N_MELS:
            tags["vocoder"] = hifigan_pretrained.load_pretrained(modules["vocoder"], cache_dir)
    return modules, tags, grid


def seeded_modules(s: SVCSettings, seed: int, spleeter_separation: bool = False
                    ) -> dict[str, nn.Module]:
    """Seeded, architecture-faithful initialisation: same seed, same weights."""
    builders: dict[str, Callable[[], nn.Module]] = {
        "separation": (spleeter.SpleeterSeparator if spleeter_separation else
                       lambda: SpectrogramUNet(s.n_fft // 2 + 1, s.separation_channels,
                                               s.separation_depth)),
        "content_encoder": lambda: ContentEncoder(s.n_mels, s.hidden, s.content_layers),
        "pitch_encoder": lambda: PitchEncoder(s.hidden),
        "flow_decoder": lambda: ResidualCouplingFlow(
            channels=s.hidden, hidden=s.hidden, n_layers=s.flow_layers, n_flows=s.n_flows,
            gin_channels=s.speaker_dim),
        "mel_projection": lambda: MelProjection(s.hidden, s.n_mels),
        "vocoder": lambda: HiFiGANGenerator(hifigan_config(s.vocoder), n_mels=s.n_mels),
    }
    if s.f0_method == "fcpe":
        builders["f0"] = fcpe.FCPE
    elif s.f0_method != "yin":
        raise ValueError(f"preset.svc.f0_method={s.f0_method!r} is not one of yin, fcpe")
    modules = {}
    for index, (name, build) in enumerate(builders.items()):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed * 1000 + index)
            modules[name] = build()
    return modules


def example_inputs(
    name: str, s: SVCSettings, grid: SeparationGrid, device: torch.device, dtype: torch.dtype,
    sample_rate: int = 22050,
) -> Callable[[int], tuple[torch.Tensor, ...]]:
    """Inputs of the right shape for ``frames`` mel frames, for export and parity."""

    def make(frames: int) -> tuple[torch.Tensor, ...]:
        def randn(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, device=device, dtype=dtype)

        if name == "separation":  # the same audio on the separation's own hop
            sep_frames = (frames - 1) * s.hop_length // grid.hop_length + 1
            return (randn(1, grid.n_fft // 2 + 1, sep_frames).abs(),)
        if name == "content_encoder":
            return (randn(1, s.n_mels, frames),)
        if name == "pitch_encoder":
            return (torch.full((1, frames), 220.0, device=device, dtype=dtype),)
        if name == "flow_decoder":
            return randn(1, s.hidden, frames), randn(1, s.speaker_dim, 1)
        if name == "mel_projection":
            return (randn(1, s.hidden, frames),)
        if name == "f0":  # FCPE's mel: the same audio at 16 kHz, hop 160
            samples_16k = (frames - 1) * s.hop_length * fcpe.SAMPLE_RATE // sample_rate
            return (randn(1, fcpe.N_MELS, samples_16k // fcpe.HOP_LENGTH + 1),)
        return (randn(1, s.n_mels, frames),)

    return make
