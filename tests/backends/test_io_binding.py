"""The I/O-binding runner CUDA runs use, exercised on the CPU with real sessions."""

from __future__ import annotations

import gc
from pathlib import Path

import onnxruntime
import pytest
import torch

from avbench.backends.export import export_onnx
from avbench.backends.onnxruntime import CPU, BoundRunner, CpuRunner, dlpack_missing
from tests.backends.components import svc_components


def session(path: Path) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(str(path), providers=[CPU])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_bound_runner_matches_the_numpy_runner_for_every_component(tmp_path: Path,
                                                                   dtype) -> None:
    for name, component in svc_components(torch.device("cpu"), dtype).items():
        path = tmp_path / f"{name}.onnx"
        export_onnx(component, path)
        sess = session(path)
        inputs = component.example_inputs(40)  # not the exported length
        expected = CpuRunner(sess)(*inputs)
        got = BoundRunner(sess, torch.device("cpu"))(*inputs)
        assert got.dtype == expected.dtype == dtype and got.shape == expected.shape, name
        assert torch.equal(got, expected), name


def test_bound_output_outlives_its_binding(tmp_path: Path) -> None:
    """The tensor handed over by DLPack keeps ONNX Runtime's buffer: values survive the
    binding, later runs reusing the arena, and garbage collection."""
    component = svc_components(torch.device("cpu"), torch.float32,
                               names=("vocoder",))["vocoder"]
    path = tmp_path / "vocoder.onnx"
    export_onnx(component, path)
    runner = BoundRunner(session(path), torch.device("cpu"))
    first = runner(*component.example_inputs(32))
    kept = first.clone()
    for frames in (32, 48, 16):
        runner(*component.example_inputs(frames))
    gc.collect()
    assert torch.equal(first, kept)


def test_this_onnxruntime_speaks_dlpack() -> None:
    assert dlpack_missing() is None


def test_bfloat16_input_is_a_clear_type_error(tmp_path: Path) -> None:
    component = svc_components(torch.device("cpu"), torch.float32,
                               names=("vocoder",))["vocoder"]
    path = tmp_path / "vocoder.onnx"
    export_onnx(component, path)
    runner = BoundRunner(session(path), torch.device("cpu"))
    with pytest.raises(TypeError, match="no torch.bfloat16 input type"):
        runner(*(x.bfloat16() for x in component.example_inputs(16)))
