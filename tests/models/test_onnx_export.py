"""Every model exports to ONNX with a dynamic time axis and runs in ONNX Runtime.

The graph is exported at one length and run at another, so a time axis that
was baked in as a constant fails the comparison.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from tests.models.cases import LIGHT_CASE_IDS, LIGHT_CASES, ModelCase, build_eval

ort = pytest.importorskip("onnxruntime")

EXPORT_FRAMES = 7
# Shorter than the U-Net's 2**depth = 8, and a multiple of it (no padding).
RUN_FRAMES = (3, 16)


def _dynamic_axes(case: ModelCase) -> dict[str, dict[int, str]]:
    axes = {}
    for name, time_axis in zip(case.input_names, case.time_axes, strict=True):
        axes[name] = {0: "batch"} if time_axis is None else {0: "batch", time_axis: "frames"}
    axes["output"] = {0: "batch", 2: "samples" if case.name.startswith("hifigan") else "frames"}
    return axes


def _export(model: nn.Module, case: ModelCase, path: Path, dynamo: bool) -> None:
    example = case.inputs(2, EXPORT_FRAMES)
    with warnings.catch_warnings():
        # The legacy exporter announces its deprecation, and traces the flow's
        # Python ``reverse`` default as a constant (intended: inference direction).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # torch.export notes that inputs sharing the "batch" dim share one name.
        warnings.filterwarnings("ignore", message=".*axis name.*will not be used")
        if dynamo:
            batch, frames = torch.export.Dim("batch"), torch.export.Dim("frames")
            shapes = tuple(
                {0: batch} if axis is None else {0: batch, axis: frames} for axis in case.time_axes
            )
            torch.onnx.export(
                model,
                example,
                str(path),
                input_names=list(case.input_names),
                output_names=["output"],
                dynamic_shapes=shapes,
                opset_version=18,
                dynamo=True,
                verbose=False,
            )
        else:
            torch.onnx.export(
                model,
                example,
                str(path),
                input_names=list(case.input_names),
                output_names=["output"],
                dynamic_axes=_dynamic_axes(case),
                opset_version=17,
                dynamo=False,
            )


def _check_runs_at_other_lengths(model: nn.Module, case: ModelCase, path: Path) -> None:
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    for graph_input, axis in zip(graph.graph.input, case.time_axes, strict=True):
        if axis is not None:  # the time axis must be symbolic, not a baked-in number
            assert graph_input.type.tensor_type.shape.dim[axis].dim_param

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for frames in RUN_FRAMES:
        inputs = case.inputs(3, frames)
        with torch.inference_mode():
            expected = model(*inputs).numpy()
        feeds = {name: x.numpy() for name, x in zip(case.input_names, inputs, strict=True)}
        (actual,) = session.run(None, feeds)
        assert actual.shape == expected.shape
        scale = float(np.abs(expected).max())
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * scale)


def _prepared(case: ModelCase) -> nn.Module:
    model = build_eval(case)
    if hasattr(model, "remove_weight_norm"):
        model.remove_weight_norm()
    return model


@pytest.mark.parametrize("case", LIGHT_CASES, ids=LIGHT_CASE_IDS)
def test_legacy_export_has_dynamic_time_axis(case: ModelCase, tmp_path: Path) -> None:
    model = _prepared(case)
    path = tmp_path / f"{case.name}.onnx"
    _export(model, case, path, dynamo=False)
    _check_runs_at_other_lengths(model, case, path)


def test_dynamo_export_has_dynamic_time_axis(tmp_path: Path) -> None:
    """The torch.export-based exporter (PyTorch's default) on the model whose
    forward does shape arithmetic; it is slow, so the others use the legacy one."""
    case = next(c for c in LIGHT_CASES if c.name == "separation")
    model = _prepared(case)
    path = tmp_path / f"{case.name}.onnx"
    _export(model, case, path, dynamo=True)
    _check_runs_at_other_lengths(model, case, path)


def test_export_works_without_removing_weight_norm(tmp_path: Path) -> None:
    """Exporting without folding still works; folding only removes per-call work."""
    case = next(c for c in LIGHT_CASES if c.name == "flow")
    model = build_eval(case)
    path = tmp_path / "flow_weight_norm.onnx"
    _export(model, case, path, dynamo=False)
    _check_runs_at_other_lengths(model, case, path)
