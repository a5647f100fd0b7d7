"""ONNX export of a pipeline component, and the shapes its graph accepts.

A component's graph has one output named ``output`` and named inputs (the
component's ``input_names``). Which axes are dynamic is found by probing:
the example inputs and the module's output are built at two frame counts and
every axis whose size changes is the time axis ("frames" on inputs,
"length" on the output). Precision is baked into the graph: the module and
its example inputs are already in the pipeline's dtype. Weight norm is
folded before export so the graph holds plain convolutions, and the inference
rewrites of ``avbench.backends.rewrites`` (transposed convolutions as polyphase
convolutions) are applied to a copy of the module.
"""

from __future__ import annotations

import hashlib
import inspect
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from avbench.backends.cache import ArtifactCache
from avbench.backends.rewrites import for_export, rewrites_digest
from avbench.models.weight_norm import remove_weight_norm
from avbench.pipelines.base import Component, FrameRange

OUTPUT = "output"
OPSET = 17
# Two probe lengths, multiples of the U-Net's 2**depth, small enough to be cheap.
PROBE_FRAMES = (16, 24)
Shape = tuple[int, ...]


@dataclass(frozen=True)
class GraphSignature:
    """Input names and, per input, the axes that follow the number of frames."""

    input_names: tuple[str, ...]
    input_time_axes: tuple[tuple[int, ...], ...]
    output_time_axes: tuple[int, ...]

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        axes = {name: {axis: "frames" for axis in time_axes}
                for name, time_axes in zip(self.input_names, self.input_time_axes, strict=True)
                if time_axes}
        axes[OUTPUT] = {axis: "length" for axis in self.output_time_axes}
        return axes


def input_names(component: Component) -> tuple[str, ...]:
    count = len(component.example_inputs(PROBE_FRAMES[0]))
    names = tuple(component.input_names or ())
    if len(names) != count:
        names = tuple(f"input_{i}" for i in range(count))
    return names


def signature(component: Component) -> GraphSignature:
    """Probe ``component`` at two lengths to find its time axes."""
    first, second = (component.example_inputs(frames) for frames in PROBE_FRAMES)
    with torch.inference_mode():
        out_a, out_b = component.module(*first), component.module(*second)
    return GraphSignature(
        input_names=input_names(component),
        input_time_axes=tuple(_changed_axes(a.shape, b.shape) for a, b in zip(first, second,
                                                                               strict=True)),
        output_time_axes=_changed_axes(out_a.shape, out_b.shape),
    )


def profile_shapes(component: Component, frames: FrameRange) -> dict[str, tuple[Shape, Shape,
                                                                                  Shape]]:
    """(min, opt, max) shape of every input, for a TensorRT optimisation profile."""
    by_length = [component.example_inputs(n) for n in (frames.min, frames.opt, frames.max)]
    names = input_names(component)
    return {name: tuple(tuple(inputs[i].shape) for inputs in by_length)  # type: ignore[misc]
            for i, name in enumerate(names)}


def export_onnx(component: Component, path: str | Path, frames: int = PROBE_FRAMES[1],
                opset: int = OPSET) -> GraphSignature:
    """Write ``component`` as an ONNX graph with a dynamic time axis to ``path``."""
    remove_weight_norm(component.module)  # a no-op when the pipeline already folded it
    sig = signature(component)
    example = component.example_inputs(frames)
    with warnings.catch_warnings():
        # The TorchScript exporter announces its deprecation and notes traced constants
        # (e.g. the flow's inference direction); neither changes the graph we want.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*axis name.*will not be used")
        torch.onnx.export(
            for_export(component.module),
            example,
            str(path),
            input_names=list(sig.input_names),
            output_names=[OUTPUT],
            dynamic_axes=sig.dynamic_axes(),
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    return sig


def module_digest(module: torch.nn.Module) -> str:
    """SHA-256 of the module's class, parameter and buffer names, dtypes, shapes and bytes."""
    digest = hashlib.sha256(type(module).__qualname__.encode())
    for name, tensor in module.state_dict().items():
        data = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}|{data.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()


def code_digest(module: torch.nn.Module) -> str:
    """SHA-256 of the source of every module class in ``module``: a graph traced from
    older forward code is stale even when the weights are the same."""
    digest = hashlib.sha256()
    for cls in sorted({type(m) for m in module.modules()},
                      key=lambda c: f"{c.__module__}.{c.__qualname__}"):
        digest.update(f"{cls.__module__}.{cls.__qualname__}".encode())
        try:
            digest.update(inspect.getsource(cls).encode())
        except (OSError, TypeError):  # no source (a C extension, an interactive class)
            digest.update(b"<no source>")
    return digest.hexdigest()


def onnx_fields(component: Component, dtype: torch.dtype, opset: int) -> dict[str, Any]:
    """What makes an exported graph valid: the weights, the code and its export rewrites,
    the exporter and the precision."""
    return {"component": component.name, "model_sha256": module_digest(component.module),
            "code_sha256": code_digest(component.module), "rewrites_sha256": rewrites_digest(),
            "dtype": str(dtype), "opset": opset, "torch": torch.__version__,
            "exporter": "torchscript", "input_names": list(component.input_names)}


def cached_onnx(component: Component, cache: ArtifactCache, fields: dict[str, Any],
                opset: int) -> tuple[str, float, bool]:
    """The cached graph of ``component`` (exported on a miss): path, export seconds, hit."""
    entry = cache.entry("onnx", component.name, fields, "model.onnx")
    result = entry.get_or_build(lambda path: export_onnx(component, path, opset=opset))
    return str(result.path), result.build_s, result.hit


def _changed_axes(a: torch.Size, b: torch.Size) -> tuple[int, ...]:
    if len(a) != len(b):
        raise ValueError(f"rank changes with length: {tuple(a)} vs {tuple(b)}")
    return tuple(axis for axis, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
