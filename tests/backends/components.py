"""The SVC pipeline's neural components, built tiny, as the pipeline hands them to a backend."""

from __future__ import annotations

import torch

from avbench.pipelines.base import Component, Pipeline
from avbench.pipelines.settings import SVCSettings
from avbench.pipelines.svc import COMPONENTS, _build_modules, _example_inputs

TINY = SVCSettings(n_fft=64, hop_length=256, n_mels=16, separation_channels=4,
                   separation_depth=3, hidden=24, content_layers=2, flow_layers=2, n_flows=2,
                   speaker_dim=12, vocoder="v3")


def svc_components(device: torch.device, dtype: torch.dtype, seed: int = 0,
                   names: tuple[str, ...] | None = None) -> dict[str, Component]:
    """The SVC pipeline's neural components, tiny, on ``device`` in ``dtype``."""
    components = {}
    for name, module in _build_modules(TINY, seed=seed).items():
        if names is not None and name not in names:
            continue
        module.to(device, dtype).eval().requires_grad_(False)
        components[name] = Component(name, module, _example_inputs(name, TINY, device, dtype),
                                     COMPONENTS[name])
    return components


def tiny_pipeline(dtype: torch.dtype = torch.float32, **kwargs) -> Pipeline:
    """A pipeline holding only the tiny components (what ``backends.prepare`` works on)."""
    pipe = Pipeline(torch.device("cpu"), 22050)
    pipe.components = svc_components(torch.device("cpu"), dtype, **kwargs)
    return pipe
