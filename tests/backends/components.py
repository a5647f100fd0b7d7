"""The SVC pipeline's neural components, built tiny, as the pipeline hands them to a backend."""

from __future__ import annotations

import torch

from avbench.pipelines.base import Component, Pipeline
from avbench.pipelines.settings import SVCSettings
from avbench.pipelines.svc import COMPONENTS
from avbench.pipelines.svc_modules import SeparationGrid, example_inputs, seeded_modules

TINY = SVCSettings(n_fft=64, hop_length=256, n_mels=16, separation_channels=4,
                   separation_depth=3, hidden=24, content_layers=2, flow_layers=2, n_flows=2,
                   speaker_dim=12, vocoder="v3")
# The components a YIN preset builds (FCPE's ``f0`` is one only with f0_method=fcpe).
NAMES = tuple(name for name in COMPONENTS if name != "f0")


def svc_components(device: torch.device, dtype: torch.dtype, seed: int = 0,
                   names: tuple[str, ...] | None = None) -> dict[str, Component]:
    """The SVC pipeline's neural components, tiny, on ``device`` in ``dtype``."""
    components = {}
    for name, module in seeded_modules(TINY, seed=seed).items():
        if names is not None and name not in names:
            continue
        module.to(device, dtype).eval().requires_grad_(False)
        inputs = example_inputs(name, TINY, SeparationGrid(TINY.n_fft, TINY.hop_length),
                                device, dtype)
        components[name] = Component(name, module, inputs, COMPONENTS[name])
    return components


def tiny_pipeline(dtype: torch.dtype = torch.float32, **kwargs) -> Pipeline:
    """A pipeline holding only the tiny components (what ``backends.prepare`` works on)."""
    pipe = Pipeline(torch.device("cpu"), 22050)
    pipe.components = svc_components(torch.device("cpu"), dtype, **kwargs)
    return pipe
