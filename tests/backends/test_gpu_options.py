"""GPU-path settings built and checked on the CPU: ONNX Runtime's stream, run and precision
options, the TensorRT provider's library version, TensorRT's builder flags and address
alignment, and the TF32 tag. What only a GPU can show is in the tests marked for one."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import pytest
import torch

from avbench.backends.base import BackendReport, Prepared
from avbench.backends.export import export_onnx
from avbench.backends.onnxruntime import (
    CPU,
    TENSORRT,
    BoundRunner,
    CpuRunner,
    gpu_provider_options,
)
from avbench.backends.ort_gpu import (
    SPECIAL_STREAMS,
    check_compute_stream,
    cuda_ep_precision,
    ort_conflict,
    ort_distributions,
    ort_tensorrt_version,
    run_options,
    trt_version_string,
)
from avbench.backends.tensorrt import (
    ALIGNMENT,
    BackendBuildError,
    builder_flags,
    tensorrt_aligned,
)
from tests.backends.components import svc_components

SYNC_KEY = "disable_synchronize_execution_providers"
PROFILES = {"hidden": ((1, 4, 8), (1, 4, 24), (1, 4, 64)), "speaker": ((1, 8, 1),) * 3}


def test_run_options_skip_the_per_call_synchronisation() -> None:
    assert run_options().get_run_config_entry(SYNC_KEY) == "1"


def test_bound_runner_runs_with_those_options(tmp_path: Path) -> None:
    import onnxruntime

    component = svc_components(torch.device("cpu"), torch.float32,
                               names=("vocoder",))["vocoder"]
    path = tmp_path / "vocoder.onnx"
    export_onnx(component, path)
    session = onnxruntime.InferenceSession(str(path), providers=[CPU])
    runner = BoundRunner(session, torch.device("cpu"))
    assert runner.run_options.get_run_config_entry(SYNC_KEY) == "1"
    inputs = component.example_inputs(24)
    assert torch.equal(runner(*inputs), CpuRunner(session)(*inputs))


@pytest.mark.parametrize("handle", SPECIAL_STREAMS)
def test_the_default_stream_is_refused_with_the_fix(handle: int) -> None:
    with pytest.raises(BackendBuildError, match=r"torch\.cuda\.stream\(torch\.cuda\.Stream"):
        check_compute_stream(handle)
    with pytest.raises(BackendBuildError, match="default stream"):
        gpu_provider_options(0, handle, torch.float32, None, None)


def test_provider_options_for_an_fp32_run_with_tensorrt(tmp_path: Path) -> None:
    stream = 0x7F00_1234_5000  # any handle CUDA does not reserve
    options = gpu_provider_options(1, stream, torch.float32, PROFILES, tmp_path)
    cuda, trt = options["CUDAExecutionProvider"], options[TENSORRT]
    for provider in (cuda, trt):
        assert provider["device_id"] == "1" and provider["has_user_compute_stream"] == "1"
        assert provider["user_compute_stream"] == str(stream)
    assert cuda["use_tf32"] == "0"
    assert "use_tf32" not in trt  # the TensorRT provider has no such option
    assert trt["trt_profile_min_shapes"] == "hidden:1x4x8"  # the static input has none
    assert trt["trt_engine_cache_path"] == str(tmp_path)
    half = gpu_provider_options(0, stream, torch.float16, None, None)
    assert set(half) == {"CUDAExecutionProvider"}
    assert "use_tf32" not in half["CUDAExecutionProvider"]


def test_tf32_is_cleared_for_fp32_unless_precision_tf32() -> None:
    assert builder_flags(torch.float32) == {"TF32": False}
    assert cuda_ep_precision(torch.float32) == {"use_tf32": "0"}
    assert builder_flags(torch.float32, tf32=True) == {"TF32": True}
    assert cuda_ep_precision(torch.float32, tf32=True) == {"use_tf32": "1"}
    options = gpu_provider_options(0, 0x7F00_1234_5000, torch.float32, None, None, tf32=True)
    assert options["CUDAExecutionProvider"]["use_tf32"] == "1"
    for dtype in (torch.float16, torch.bfloat16):
        assert builder_flags(dtype, True) == {} and cuda_ep_precision(dtype, True) == {}


@pytest.mark.parametrize("name", ["pytorch", "compile"])
def test_eager_and_compile_tag_the_tf32_settings_in_force(name: str) -> None:
    """backend.tf32 for every backend: eager and torch.compile report torch's settings at
    prepare time (the run sets them from precision.tf32 before preparing)."""
    from avbench.backends.base import BackendContext, backend_class
    from avbench.pipelines.base import FrameRange
    from avbench.runtime import fp32_math

    cuda = torch.device("cuda")

    def tf32_of(device: torch.device, dtype: torch.dtype) -> bool | None:
        ctx = BackendContext(cfg=None, device=device, dtype=dtype, cache=None,
                             frames=FrameRange(8, 24, 64))
        return backend_class(name)(ctx).torch_tf32()

    for tf32 in (False, True):
        with fp32_math(cuda, tf32):
            assert tf32_of(cuda, torch.float32) is tf32
            assert tf32_of(cuda, torch.float16) is None and tf32_of(torch.device("cpu"),
                                                                    torch.float32) is None
    report = BackendReport(requested=name)
    with fp32_math(cuda, False):
        report.add("vocoder", Prepared(run=torch.nn.Identity(), tf32=tf32_of(cuda, torch.float32)),
                   name)
    assert report.tags()["backend.tf32"] == "off"


def test_tf32_tag_says_what_ran() -> None:
    report = BackendReport(requested="onnxruntime")
    identity = torch.nn.Identity()
    report.add("content_encoder", Prepared(run=identity, tf32=False), "onnxruntime")
    assert report.tags()["backend.tf32"] == "off"
    report.add("vocoder", Prepared(run=identity, tf32=True), "onnxruntime")
    assert report.tags()["backend.tf32"] == "content_encoder=off,vocoder=on"
    assert "backend.tf32" not in BackendReport(requested="pytorch").tags()


def test_tensorrt_version_strings() -> None:
    assert trt_version_string(100900) == "10.9.0"
    assert trt_version_string(110100) == "11.1.0"
    assert trt_version_string(101601) == "10.16.1"


def test_this_onnxruntime_has_no_tensorrt_provider_to_key_on() -> None:
    import onnxruntime

    if TENSORRT in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has the TensorRT provider")
    assert ort_tensorrt_version() is None


def test_aligned_tensors_are_bound_as_they_are_and_misaligned_ones_are_not() -> None:
    base = torch.zeros(4 * ALIGNMENT, dtype=torch.uint8)
    offset = (-base.data_ptr()) % ALIGNMENT
    aligned = base[offset:offset + ALIGNMENT]
    assert aligned.data_ptr() % ALIGNMENT == 0
    assert tensorrt_aligned(aligned) is aligned  # no copy
    misaligned = base[offset + 4:offset + 4 + ALIGNMENT]
    try:
        copy = tensorrt_aligned(misaligned)
    except ValueError as error:  # the CPU allocator aligns to 64 bytes only
        assert f"{ALIGNMENT}-byte aligned" in str(error)
    else:
        assert copy is not misaligned and copy.data_ptr() % ALIGNMENT == 0
        assert torch.equal(copy, misaligned)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the CUDA allocator's alignment")
def test_misaligned_cuda_views_are_copied_to_an_aligned_address() -> None:
    base = torch.arange(1024, dtype=torch.float32, device="cuda")
    view = base[1:513]  # 4 bytes past a 512-byte aligned block
    copy = tensorrt_aligned(view)
    assert copy.data_ptr() % ALIGNMENT == 0 and torch.equal(copy, view)


def test_one_onnxruntime_build_is_installed_here_and_two_are_refused() -> None:
    linux_x86 = sys.platform.startswith("linux") and platform.machine() == "x86_64"
    assert ort_distributions() == ["onnxruntime-openvino" if linux_x86 else "onnxruntime"]
    assert ort_conflict(["onnxruntime-openvino"]) is None
    both = ort_conflict(["onnxruntime-openvino", "onnxruntime-gpu"])
    assert both is not None and "\n" not in both
    assert "pip uninstall -y onnxruntime-openvino onnxruntime-gpu" in both
    assert "'.[gpu]'" in both and "docs/gpu.md" in both
    assert "'.[cpu]'" in ort_conflict(["onnxruntime", "onnxruntime-openvino"])
