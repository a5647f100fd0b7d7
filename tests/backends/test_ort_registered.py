"""A session that did not register the providers or options asked for is refused, and the
TF32 tag comes from what the session reports: with a real CPU session whose provider
ONNX Runtime drops, and with fakes reporting what a CUDA session would."""

from __future__ import annotations

from pathlib import Path

import onnxruntime
import pytest
import torch

from avbench.backends.export import export_onnx
from avbench.backends.onnxruntime import CPU, OPENVINO, gpu_provider_options
from avbench.backends.ort_registered import (
    CUDA,
    TENSORRT,
    check_registered,
    registration_problems,
    session_tf32,
)
from avbench.backends.tensorrt import BackendBuildError
from tests.backends.components import svc_components

STREAM = 0x7F00_1234_5000
PROFILES = {"hidden": ((1, 4, 8), (1, 4, 24), (1, 4, 64))}


class FakeSession:
    """Reports providers and options as ``InferenceSession`` does."""

    def __init__(self, providers: list[str], options: dict[str, dict[str, str]]) -> None:
        self.providers, self.options = providers, options
        self.fallback = True

    def get_providers(self) -> list[str]:
        return self.providers

    def get_provider_options(self) -> dict[str, dict[str, str]]:
        return self.options

    def disable_fallback(self) -> None:
        self.fallback = False


def as_reported(options: dict[str, str]) -> dict[str, str]:
    """How ONNX Runtime reports options back: booleans as 1/0, plus its own defaults."""
    return {k: {"True": "1", "False": "0"}.get(v, v) for k, v in options.items()} | {
        "gpu_mem_limit": "18446744073709551615", "arena_extend_strategy": "kNextPowerOfTwo"}


def requested(tmp_path: Path) -> list[tuple[str, dict[str, str]]]:
    options = gpu_provider_options(0, STREAM, torch.float32, PROFILES, tmp_path)
    return [(TENSORRT, options[TENSORRT]), (CUDA, options[CUDA])]


def test_a_session_that_kept_everything_passes(tmp_path: Path) -> None:
    asked = requested(tmp_path)
    session = FakeSession([TENSORRT, CUDA, CPU],
                          {name: as_reported(options) for name, options in asked} | {CPU: {}})
    check_registered(session, [*asked, CPU], "vocoder")
    assert session.fallback is False  # session.run may not switch providers mid-run


def test_the_python_fallback_without_options_is_refused(tmp_path: Path) -> None:
    """What InferenceSession makes when creating the TensorRT session raised: CUDA and CPU,
    with the CUDA provider's defaults (its own stream, TF32 on)."""
    defaults = {"device_id": "0", "has_user_compute_stream": "0", "user_compute_stream": "0",
                "use_tf32": "1"}
    session = FakeSession([CUDA, CPU], {CUDA: defaults, CPU: {}})
    problems = registration_problems(requested(tmp_path), session.get_providers(),
                                     session.get_provider_options())
    assert problems[0] == f"{TENSORRT} is not registered"
    assert f"{CUDA} user_compute_stream='0', asked '{STREAM}'" in problems
    assert f"{CUDA} use_tf32='1', asked '0'" in problems
    assert f"{CUDA} has_user_compute_stream='0', asked '1'" in problems
    with pytest.raises(BackendBuildError, match="did not set up vocoder as asked") as error:
        check_registered(session, requested(tmp_path), "vocoder")
    assert "task=doctor" in str(error.value) and "\n" not in str(error.value)


def test_an_option_the_provider_does_not_report_back_is_a_difference() -> None:
    asked = [(CUDA, {"use_tf32": "0"})]
    assert registration_problems(asked, [CUDA], {CUDA: {"device_id": "0"}}) == [
        f"{CUDA} use_tf32=None, asked '0'"]
    # A provider that reports no options at all (OpenVINO's) is checked for presence only.
    assert registration_problems([(OPENVINO, {"device_type": "CPU"})], [OPENVINO], {}) == []


def test_tf32_is_what_the_session_reports() -> None:
    assert session_tf32([CUDA, CPU], {CUDA: {"use_tf32": "0"}}) is False
    assert session_tf32([CUDA, CPU], {CUDA: {"use_tf32": "1"}}) is True
    assert session_tf32([CUDA, CPU], {CUDA: {}}) is True  # ONNX Runtime's default
    assert session_tf32([TENSORRT, CUDA, CPU], {CUDA: {"use_tf32": "0"}}) is True


@pytest.mark.skipif(OPENVINO not in onnxruntime.get_available_providers(),
                    reason="needs onnxruntime-openvino (Linux x86-64)")
def test_a_real_session_that_dropped_its_provider_is_refused(tmp_path: Path) -> None:
    """ONNX Runtime drops OpenVINO with a logged warning when its options are invalid and
    runs on the CPU provider: the check sees the real session's report."""
    component = svc_components(torch.device("cpu"), torch.float32,
                               names=("vocoder",))["vocoder"]
    path = tmp_path / "vocoder.onnx"
    export_onnx(component, path)
    asked = [(OPENVINO, {"device_type": "CPU", "precision": "NOT_A_PRECISION"}), CPU]
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # the drop is logged as an error; keep the test quiet
    session = onnxruntime.InferenceSession(str(path), options, providers=asked)
    assert session.get_providers() == [CPU]  # no exception: the provider is simply gone
    with pytest.raises(BackendBuildError, match=f"{OPENVINO} is not registered"):
        check_registered(session, asked, "vocoder")
    good = [(OPENVINO, {"device_type": "CPU", "precision": "ACCURACY"}), CPU]
    check_registered(onnxruntime.InferenceSession(str(path), options, providers=good), good,
                     "vocoder")


# --- On a GPU with onnxruntime-gpu ----------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available()
                    or CUDA not in onnxruntime.get_available_providers(),
                    reason="needs a CUDA GPU and onnxruntime-gpu")
def test_a_cuda_session_reports_torchs_stream_and_no_tf32(tmp_path: Path) -> None:
    from avbench.backends import prepare
    from avbench.pipelines.base import FrameRange, Pipeline
    from tests.backends.test_prepare import backend_cfg

    device = torch.device("cuda")
    stream = torch.cuda.Stream(device)
    pipe = Pipeline(device, 22050)
    pipe.components = svc_components(device, torch.float32, names=("vocoder",))
    with torch.cuda.stream(stream):
        report = prepare(pipe, backend_cfg("onnxruntime", providers=[CUDA]), device,
                         torch.float32, tmp_path, FrameRange(8, 24, 64))
    assert report.effective == {"vocoder": "onnxruntime"}, report.fallback_reason
    session = pipe.components["vocoder"].run.session
    reported = session.get_provider_options()[CUDA]
    assert reported["user_compute_stream"] == str(stream.cuda_stream)
    assert reported["use_tf32"] == "0"
    assert report.tags()["backend.tf32"] == "off"
