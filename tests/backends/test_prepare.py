"""backends.prepare on CPU: ONNX Runtime parity and caching, strict and non-strict fallback.

TensorRT and CUDA are really absent here; the tests use that absence, not a mock.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from avbench.backends import prepare
from avbench.backends.base import BackendUnavailable
from avbench.backends.export import export_onnx
from avbench.backends.onnxruntime import CPU, OPENVINO
from avbench.config import BackendConfig
from avbench.pipelines.base import Component, FrameRange, Pipeline
from tests.backends.components import tiny_pipeline

FRAMES = FrameRange(8, 24, 64)
LENGTHS = (16, 40)  # other lengths than the export's: the time axis must be dynamic


def backend_cfg(name: str, **overrides):
    return OmegaConf.merge(OmegaConf.structured(BackendConfig(name=name)), overrides)


def run_prepare(pipe: Pipeline, name: str, cache: Path, dtype=torch.float32, **overrides):
    return prepare(pipe, backend_cfg(name, **overrides), torch.device("cpu"), dtype, cache,
                   FRAMES)


def has_openvino() -> bool:
    import onnxruntime

    return OPENVINO in onnxruntime.get_available_providers()


PROVIDERS = [
    pytest.param([CPU], id="cpu-ep"),
    pytest.param([OPENVINO, CPU], id="openvino-ep", marks=pytest.mark.skipif(
        not has_openvino(), reason="this onnxruntime build has no OpenVINO provider "
                                   "(pip install onnxruntime-openvino)")),
]


@pytest.mark.parametrize("providers", PROVIDERS)
@pytest.mark.parametrize("dtype,tolerance", [(torch.float32, 1e-4), (torch.float16, 2e-2)])
def test_onnxruntime_matches_pytorch_for_every_component(tmp_path: Path, dtype, tolerance,
                                                         providers) -> None:
    pipe = tiny_pipeline(dtype)
    report = run_prepare(pipe, "onnxruntime", tmp_path, dtype, providers=providers)
    assert report.effective == dict.fromkeys(pipe.components, "onnxruntime")
    assert report.fallback_reason is None and report.cache_status == "miss"
    assert report.tags()["backend.providers"] == ",".join(sorted(providers))
    assert report.export_s > 0 and report.load_s > 0
    for component in pipe.components.values():
        for frames in LENGTHS:
            inputs = component.example_inputs(frames)
            with torch.inference_mode():
                expected = component.module(*inputs)
            got = component(*inputs)  # the stage's call: now the ONNX Runtime session
            assert got.dtype == expected.dtype and got.shape == expected.shape
            scale = expected.float().abs().max().clamp_min(1e-6)
            error = ((got.float() - expected.float()).abs().max() / scale).item()
            assert error < tolerance, f"{component.name} at {frames} frames: {error:.2e}"


@pytest.mark.skipif(not has_openvino(), reason="this onnxruntime build has no OpenVINO provider")
def test_openvino_runs_every_node_of_every_component(tmp_path: Path) -> None:
    """OpenVINO takes whole graphs: with the CPU provider's fallback disabled, every
    component's session still builds, so no node silently runs elsewhere."""
    import onnxruntime

    for component in tiny_pipeline().components.values():
        path = tmp_path / f"{component.name}.onnx"
        export_onnx(component, path)
        options = onnxruntime.SessionOptions()
        options.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
        session = onnxruntime.InferenceSession(
            str(path), options,
            providers=[(OPENVINO, {"device_type": "CPU", "precision": "ACCURACY"})])
        assert session.get_providers()[0] == OPENVINO, component.name


def test_second_prepare_hits_the_cache_and_a_weight_change_misses(tmp_path: Path) -> None:
    first = run_prepare(tiny_pipeline(), "onnxruntime", tmp_path)
    again = run_prepare(tiny_pipeline(), "onnxruntime", tmp_path)
    assert first.cache_status == "miss" and again.cache_status == "hit"
    assert again.export_s == 0.0 and again.tags()["backend.cache"] == "hit"
    changed = tiny_pipeline()
    with torch.no_grad():
        next(changed.components["vocoder"].module.parameters()).view(-1)[0] += 0.5
    report = run_prepare(changed, "onnxruntime", tmp_path)
    assert report.cache == {**dict.fromkeys(changed.components, True), "vocoder": False}
    assert report.cache_status == "partial"
    # The rebuilt vocoder graph holds the new weight.
    mel = changed.components["vocoder"].example_inputs(16)
    with torch.inference_mode():
        torch.testing.assert_close(changed.components["vocoder"](*mel),
                                   changed.components["vocoder"].module(*mel),
                                   rtol=1e-4, atol=1e-5)


def test_tensorrt_without_cuda_strict_is_one_clear_error(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: tensorrt's absence cannot be shown here")
    with pytest.raises(BackendUnavailable) as error:
        run_prepare(tiny_pipeline(), "tensorrt", tmp_path)
    message = str(error.value)
    assert "\n" not in message and "CUDA" in message and "backend.strict=false" in message


def test_tensorrt_without_cuda_non_strict_falls_back_and_records(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: tensorrt's absence cannot be shown here")
    pipe = tiny_pipeline()
    report = run_prepare(pipe, "tensorrt", tmp_path, strict=False)
    assert report.effective == dict.fromkeys(pipe.components, "pytorch")
    tags = report.tags()
    assert tags["backend.requested"] == "tensorrt" and tags["backend.effective"] == "pytorch"
    assert "CUDA" in tags["backend.fallback_reason"]
    assert all(c.run is c.module for c in pipe.components.values())


def test_bfloat16_on_onnxruntime_cpu_without_openvino_is_refused_with_the_fix(
        tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="bfloat16.*precision=fp32"):
        run_prepare(tiny_pipeline(torch.bfloat16), "onnxruntime", tmp_path, torch.bfloat16,
                    providers=[CPU])


@pytest.mark.skipif(not has_openvino(), reason="this onnxruntime build has no OpenVINO provider")
def test_bfloat16_on_onnxruntime_cpu_runs_through_openvinos_hint(tmp_path: Path) -> None:
    pipe = tiny_pipeline(torch.bfloat16, names=("content_encoder",))
    component = pipe.components["content_encoder"]
    (mel,) = component.example_inputs(24)
    expected = component.module.float()(mel.float())
    component.module.to(torch.bfloat16)
    report = run_prepare(pipe, "onnxruntime", tmp_path, torch.bfloat16)
    output = component.run(mel)
    assert output.dtype == torch.bfloat16 and output.shape == expected.shape
    assert ((output.float() - expected).norm() / expected.norm()).item() < 5e-2
    assert report.precision["content_encoder"].startswith("bf16 (OpenVINO")


class Spectrum(nn.Module):
    """rfft has no ONNX (opset 17) export: a real export failure."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft(x, dim=-1).abs()


def with_unexportable(pipe: Pipeline) -> Pipeline:
    pipe.components["spectrum"] = Component(
        "spectrum", Spectrum(), lambda frames: (torch.randn(1, 4, frames),), ("x",))
    return pipe


def test_export_failure_strict_names_the_component(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="could not prepare spectrum.*strict=false"):
        run_prepare(with_unexportable(tiny_pipeline(names=("pitch_encoder",))), "onnxruntime",
                    tmp_path)


def test_export_failure_non_strict_falls_back_for_that_component_only(tmp_path: Path) -> None:
    pipe = with_unexportable(tiny_pipeline(names=("pitch_encoder", "mel_projection")))
    report = run_prepare(pipe, "onnxruntime", tmp_path, strict=False)
    assert report.effective == {"pitch_encoder": "onnxruntime", "mel_projection": "onnxruntime",
                                "spectrum": "pytorch"}
    assert report.fallback_reason.startswith("spectrum: ")
    assert report.tags()["backend.effective"] == (
        "pitch_encoder=onnxruntime,mel_projection=onnxruntime,spectrum=pytorch")
    x = torch.randn(1, 4, 10)
    torch.testing.assert_close(pipe.components["spectrum"](x), Spectrum()(x))
    assert not list((tmp_path / "onnx").glob("spectrum-*"))  # the failed export left nothing


def test_unknown_backend_lists_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pytorch, compile, onnxruntime, tensorrt, openvino"):
        run_prepare(tiny_pipeline(), "coreml", tmp_path)


def test_compile_without_a_cpp_compiler_is_refused_with_the_fix(tmp_path: Path) -> None:
    import torch._inductor.config as inductor

    # Inductor's own config patch: its compiler search looks for a compiler not on this machine.
    with inductor.patch({"cpp.cxx": ("avbench-no-such-c++",)}):
        with pytest.raises(BackendUnavailable, match=r"needs a C\+\+ compiler.*install g\+\+"):
            run_prepare(tiny_pipeline(names=("mel_projection",)), "compile", tmp_path)
        report = run_prepare(tiny_pipeline(names=("mel_projection",)), "compile", tmp_path,
                             strict=False)
    assert report.effective == {"mel_projection": "pytorch"}
    assert "C++ compiler" in report.fallback_reason


@pytest.mark.slow
def test_compile_runs_before_timing_and_matches_eager(tmp_path: Path) -> None:
    pipe = tiny_pipeline(names=("mel_projection",))
    report = run_prepare(pipe, "compile", tmp_path)
    component = pipe.components["mel_projection"]
    assert report.effective == {"mel_projection": "compile"} and report.build_s > 0
    assert report.cache_status == "none"
    inputs = component.example_inputs(FRAMES.opt)  # the length compiled in prepare
    with torch.inference_mode():
        torch.testing.assert_close(component(*inputs), component.module(*inputs))


def test_eager_bf16_says_when_the_cpu_emulates_it() -> None:
    from avbench.backends.base import EMULATED_BF16, emulated_bf16, native_bf16

    cpu = torch.device("cpu")
    assert emulated_bf16(cpu, torch.float32) is None
    assert emulated_bf16(cpu, torch.bfloat16) == (None if native_bf16() else EMULATED_BF16)
    assert native_bf16() == torch.ops.mkldnn._is_mkldnn_bf16_supported()
