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


# --- On a GPU with onnxruntime-gpu ----------------------------------------------------------

def _gpu_providers() -> list[str]:
    return [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider")
            if p in onnxruntime.get_available_providers()]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or not _gpu_providers(),
                    reason="needs a CUDA GPU and onnxruntime-gpu")
def test_cuda_sessions_keep_outputs_on_the_gpu_and_seal_tensorrt_engines(tmp_path: Path) -> None:
    from avbench.backends import prepare
    from avbench.pipelines.base import FrameRange, Pipeline
    from tests.backends.test_prepare import backend_cfg

    device = torch.device("cuda")
    frames = FrameRange(8, 24, 64)

    stream = torch.cuda.Stream(device)  # ONNX Runtime refuses the default stream

    def run() -> tuple:
        pipe = Pipeline(device, 22050)
        pipe.components = svc_components(device, torch.float32, names=("flow_decoder",))
        with torch.cuda.stream(stream):
            report = prepare(pipe, backend_cfg("onnxruntime", providers=_gpu_providers()),
                             device, torch.float32, tmp_path, frames)
        return pipe.components["flow_decoder"], report

    component, first = run()
    inputs = component.example_inputs(40)
    with torch.inference_mode(), torch.cuda.stream(stream):
        expected = component.module(*inputs)
        got = component(*inputs)
    stream.synchronize()
    assert got.device.type == "cuda" and got.shape == expected.shape
    assert (got - expected).abs().max() <= 1e-3 * expected.abs().max().clamp_min(1e-6)
    _, second = run()
    assert (first.cache_status, second.cache_status) == ("miss", "hit")
    uses_trt = "TensorrtExecutionProvider" in first.tags()["backend.providers"]
    assert first.tags()["backend.tf32"] == ("on" if uses_trt else "off")
    assert first.build_s > 0 if uses_trt else first.build_s == 0  # engines built in-session
    if "TensorrtExecutionProvider" in _gpu_providers():
        folders = list((tmp_path / "ort-tensorrt").iterdir())
        assert any((f / "manifest.json").exists() for f in folders if f.is_dir())
