"""Native TensorRT backend: the real absence of CUDA/tensorrt here, the graphs and
optimisation profiles TensorRT would be given, and (on a GPU with tensorrt) engine parity.

The components are the SVC pipeline's own, built tiny: same modules, same example
inputs and input names as the pipeline hands to the backend.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest
import torch

from avbench.backends.export import export_onnx, profile_shapes
from avbench.backends.onnxruntime import tensorrt_ep_profile
from avbench.backends.tensorrt import (
    PACKAGE_FIX,
    BackendBuildError,
    TensorRTRunner,
    build_engine,
    trt_version,
    unavailable_reason,
)
from avbench.pipelines.base import FrameRange
from avbench.pipelines.svc import COMPONENTS
from tests.backends.components import NAMES, svc_components

# Multiples of the U-Net's 2**depth; every bound distinct so dynamic axes show in the shapes.
FRAMES = FrameRange(min=8, opt=24, max=64)
HAS_TENSORRT = trt_version() is not None
needs_gpu_tensorrt = pytest.mark.skipif(
    not torch.cuda.is_available() or not HAS_TENSORRT,
    reason="needs a CUDA GPU and the tensorrt package (pip install 'avbench[tensorrt]')")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, torch.dtype], tuple]:
    """``(component, dtype) -> (loaded ONNX graph, profile shapes)``, each exported once."""
    out = tmp_path_factory.mktemp("onnx")
    components = {dtype: svc_components(torch.device("cpu"), dtype)
                  for dtype in (torch.float32, torch.float16)}

    @functools.cache
    def export(name: str, dtype: torch.dtype) -> tuple[onnx.ModelProto, dict]:
        component = components[dtype][name]
        path = out / f"{name}-{str(dtype).split('.')[-1]}.onnx"
        export_onnx(component, path)
        return onnx.load(str(path)), profile_shapes(component, FRAMES)

    return export


def test_cpu_is_refused_with_cuda_named_and_other_backends_suggested() -> None:
    reason = unavailable_reason(torch.device("cpu"))
    assert reason is not None and "\n" not in reason
    assert "CUDA" in reason and "cpu" in reason
    assert "backend=onnxruntime" in reason and "backend=pytorch" in reason


@pytest.mark.skipif(HAS_TENSORRT, reason="tensorrt is importable on this machine")
def test_missing_package_is_reported_with_the_install_fix() -> None:
    assert trt_version() is None
    # A CUDA device passes the first check; the absent package is the reason given.
    reason = unavailable_reason(torch.device("cuda"))
    assert reason is not None and PACKAGE_FIX in reason and "tensorrt" in reason


def test_module_imports_without_importing_tensorrt() -> None:
    code = ("import sys, avbench.backends.tensorrt as m; "
            "assert 'tensorrt' not in sys.modules; print(m.PACKAGE_FIX)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert PACKAGE_FIX in result.stdout


def _dims(value_info: onnx.ValueInfoProto) -> list[onnx.TensorShapeProto.Dimension]:
    return list(value_info.type.tensor_type.shape.dim)


@pytest.mark.parametrize("name", NAMES)
def test_profiles_match_the_graph_tensorrt_would_parse(exported, name: str) -> None:
    graph, profiles = exported(name, torch.float32)
    inputs = list(graph.graph.input)
    assert [i.name for i in inputs] == list(COMPONENTS[name]) == list(profiles)
    for graph_input in inputs:
        shapes = profiles[graph_input.name]
        dims = _dims(graph_input)
        assert all(len(shape) == len(dims) for shape in shapes), graph_input.name
        for axis, dim in enumerate(dims):
            low, opt, high = (shape[axis] for shape in shapes)
            assert 1 <= low <= opt <= high
            if dim.dim_param:  # dynamic in the graph: the profile must span a range
                assert low < opt < high, (graph_input.name, axis)
            else:  # static in the graph: the profile must repeat the graph's size
                assert dim.HasField("dim_value") and low == opt == high == dim.dim_value, (
                    graph_input.name, axis)
    assert [o.name for o in graph.graph.output] == ["output"]
    assert any(d.dim_param for d in _dims(graph.graph.output[0])), "output has no dynamic axis"


def test_tensorrt_ep_profile_names_every_dynamic_input_and_no_static_one(exported) -> None:
    """ONNX Runtime's TensorRT provider gets the native backend's profile, as strings."""
    _, profiles = exported("flow_decoder", torch.float32)
    options = tensorrt_ep_profile(profiles)
    assert sorted(options) == ["trt_profile_max_shapes", "trt_profile_min_shapes",
                               "trt_profile_opt_shapes"]
    dynamic = [name for name, shapes in profiles.items() if len(set(shapes)) > 1]
    assert dynamic and "speaker" not in dynamic
    for index, which in enumerate(("min", "opt", "max")):
        parsed = dict(item.split(":") for item in options[f"trt_profile_{which}_shapes"].split(","))
        assert list(parsed) == dynamic
        for name in dynamic:
            assert tuple(int(d) for d in parsed[name].split("x")) == profiles[name][index]
    assert tensorrt_ep_profile({"speaker": profiles["speaker"]}) == {}


def test_static_speaker_input_stays_static(exported) -> None:
    graph, profiles = exported("flow_decoder", torch.float32)
    speaker = next(i for i in graph.graph.input if i.name == "speaker")
    assert not any(d.dim_param for d in _dims(speaker))
    assert len(set(profiles["speaker"])) == 1


# The vocoder is left out: its fp16 convolutions take seconds on a CPU, and the graph's
# types come from the same export as the others'.
@pytest.mark.parametrize("name", [name for name in NAMES if name != "vocoder"])
def test_half_precision_is_baked_into_the_graph(exported, name: str) -> None:
    graph, _ = exported(name, torch.float16)
    half = onnx.TensorProto.FLOAT16
    assert all(i.type.tensor_type.elem_type == half for i in graph.graph.input)
    assert graph.graph.output[0].type.tensor_type.elem_type == half


# --- On a GPU with tensorrt ---------------------------------------------------------------

PARITY_TOLERANCE = {torch.float32: 1e-2, torch.float16: 5e-2}  # max error / max |reference|


@pytest.mark.gpu
@needs_gpu_tensorrt
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("name", ["flow_decoder", "vocoder", "separation"])
def test_engine_matches_the_module_at_two_lengths(tmp_path: Path, name: str,
                                                  dtype: torch.dtype) -> None:
    device = torch.device("cuda")
    component = svc_components(device, dtype)[name]
    path = tmp_path / f"{name}.onnx"
    export_onnx(component, path)
    runner = TensorRTRunner(build_engine(path, profile_shapes(component, FRAMES)), device)
    assert runner.input_names == COMPONENTS[name]
    assert runner.dtypes["output"] == dtype
    for frames in (16, 48):
        inputs = component.example_inputs(frames)
        with torch.inference_mode():
            expected = component.module(*inputs)
            actual = runner(*inputs)
        torch.cuda.synchronize(device)
        assert actual.shape == expected.shape and actual.dtype == expected.dtype
        error = (actual.float() - expected.float()).abs().max()
        scale = expected.float().abs().max().clamp_min(1e-6)
        assert error / scale <= PARITY_TOLERANCE[dtype], (frames, float(error), float(scale))


@pytest.mark.gpu
@needs_gpu_tensorrt
def test_missing_dynamic_profile_and_bad_graph_raise(tmp_path: Path) -> None:
    component = svc_components(torch.device("cuda"), torch.float32)["flow_decoder"]
    path = tmp_path / "flow.onnx"
    export_onnx(component, path)
    profiles = profile_shapes(component, FRAMES)
    with pytest.raises(BackendBuildError, match="hidden"):
        build_engine(path, {"speaker": profiles["speaker"]})
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not an onnx graph")
    with pytest.raises(BackendBuildError, match="could not parse"):
        build_engine(garbage, profiles)
