"""The train-step probe: a real forward + backward + optimizer step on a padded batch."""

from __future__ import annotations

import pytest
import torch

from avbench.data.loaders import collate
from avbench.data.probe import TrainStep, to_device
from avbench.runtime import ConfigError
from tests.data.conftest import SETTINGS

CPU = torch.device("cpu")


def _batch() -> dict:
    rng = torch.Generator().manual_seed(0)
    items = [(f"c{i}", torch.randn(n, SETTINGS.n_mels, generator=rng).numpy(),
              torch.rand(n, generator=rng).numpy(), n / 100) for i, n in enumerate((5, 12))]
    return collate(items, SETTINGS.n_mels)


def test_step_trains_the_generator() -> None:
    step = TrainStep(SETTINGS, channels=8, segment_frames=6, device=CPU)
    before = [p.detach().clone() for p in step.model.parameters()]
    losses = [step(_batch()) for _ in range(2)]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert any(not torch.equal(a, b) for a, b in zip(before, step.model.parameters(),
                                                      strict=True))


def test_too_few_channels_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="model_channels=4"):
        TrainStep(SETTINGS, channels=4, segment_frames=6, device=CPU)


def test_collate_pads_and_device_copy_is_the_identity_on_cpu() -> None:
    batch = _batch()
    assert batch["mel"].shape == (2, 12, SETTINGS.n_mels)
    assert torch.equal(batch["frames"], torch.tensor([5, 12]))
    assert batch["mel"][0, 5:].abs().sum() == 0
    assert next(to_device([batch], CPU, prefetch=True)) is batch
