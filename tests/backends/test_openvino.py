"""backend=openvino: precision hints read back from the compiled model, and int8 models
quantised by NNCF on a calibration set, cached like engines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from avbench.backends import prepare
from avbench.backends.calibration_set import CalibrationSet
from avbench.backends.openvino import ShapeCompiled, openvino_version
from avbench.openvino_core import openvino_core
from tests.backends.components import tiny_pipeline
from tests.backends.test_prepare import FRAMES, backend_cfg

pytestmark = pytest.mark.skipif(openvino_version() is None,
                                reason="OpenVINO is not installed: pip install -e '.[cpu]'")
NAME = "content_encoder"


def calibration(seed: int) -> CalibrationSet:
    generator = torch.Generator().manual_seed(seed)
    return CalibrationSet({NAME: [(torch.randn(1, 16, 24, generator=generator),)
                                  for _ in range(3)]}, f"seed {seed}")


def prepare_int8(cache: Path, calibration_set: CalibrationSet | None,
                 quantizable: frozenset[str] = frozenset({NAME}),
                 keep_float: frozenset[str] = frozenset()):
    pipe = tiny_pipeline(names=(NAME,))
    report = prepare(pipe, backend_cfg("openvino"), torch.device("cpu"), torch.float32, cache,
                     FRAMES, "int8", calibration_set, quantizable, keep_float=keep_float)
    return pipe, report


def cpu_has_bf16() -> bool:
    return "BF16" in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def test_f32_and_bf16_hints_match_eager_and_say_what_ran(tmp_path: Path) -> None:
    # Without AVX512-BF16/AMX, OpenVINO compiles a bf16 hint as f32: the report says so.
    bf16_ran = "bf16" if cpu_has_bf16() else "f32"
    for dtype, tolerance, precision in ((torch.float32, 1e-4, "f32"),
                                        (torch.bfloat16, 5e-2, bf16_ran)):
        pipe = tiny_pipeline(names=(NAME,))
        component = pipe.components[NAME]
        (mel,) = component.example_inputs(40)
        expected = component.module(mel)
        component.module.to(dtype)
        report = prepare(pipe, backend_cfg("openvino"), torch.device("cpu"), dtype, tmp_path,
                         FRAMES)
        output = component.run(mel.to(dtype))
        assert output.dtype == dtype
        assert ((output.float() - expected).norm() / expected.norm()).item() < tolerance
        assert report.precision[NAME].split(" ")[0] == precision
        if dtype == torch.bfloat16 and precision == "f32":
            assert "this CPU has no bf16" in report.precision[NAME]
        assert precision in report.tags()[f"backend.execution.{NAME}"]


def test_int8_is_cached_and_keyed_by_the_calibration_set(tmp_path: Path) -> None:
    first_pipe, first = prepare_int8(tmp_path, calibration(0))
    assert first.precision[NAME] == "int8" and first.cache[NAME] is False
    assert "i8" in first.execution[NAME] or "u8" in first.execution[NAME]
    _, again = prepare_int8(tmp_path, calibration(0))
    assert again.cache[NAME] is True  # the quantised model came from the cache
    _, other = prepare_int8(tmp_path, calibration(1))
    assert other.cache[NAME] is False  # another calibration set, another entry
    assert len(list((tmp_path / "openvino-int8").glob(f"{NAME}-*"))) == 2
    component = first_pipe.components[NAME]
    (mel,) = calibration(2).inputs[NAME][0]
    expected = component.module(mel)
    assert ((component.run(mel) - expected).norm() / expected.norm()).item() < 0.1


def test_a_seeded_or_uncalibrated_component_runs_f32_and_says_why(tmp_path: Path) -> None:
    _, seeded = prepare_int8(tmp_path, calibration(0), frozenset())
    assert seeded.precision[NAME] == "f32 (seeded weights: not quantised)"
    _, uncalibrated = prepare_int8(tmp_path, None)
    assert uncalibrated.precision[NAME].startswith("f32 (no calibration set")
    _, kept = prepare_int8(tmp_path, calibration(0), keep_float=frozenset({NAME}))
    assert kept.precision[NAME] == "f32 (precision.keep_float: not quantised)"
    assert not (tmp_path / "openvino-int8").exists()  # nothing was quantised


def test_int8_on_a_backend_that_cannot_quantise_is_a_recorded_fallback(tmp_path: Path) -> None:
    pipe = tiny_pipeline(names=(NAME,))
    report = prepare(pipe, backend_cfg("onnxruntime", providers=["CPUExecutionProvider"]),
                     torch.device("cpu"), torch.float32, tmp_path, FRAMES, "int8",
                     calibration(0), frozenset({NAME}))
    assert "backend=openvino only" in report.tags()["backend.fallback_reason"]
    assert report.precision[NAME] == "f32 (backend=onnxruntime)"


# Two OpenVINO models built, then freed oldest first, then a signal with a Python handler:
# with a Core per model the process died of SIGSEGV here (avbench/openvino_core.py says why).
FREED_OUT_OF_ORDER = """
import gc, os, signal
import torch
from avbench.backends.openvino import ShapeCompiled
import openvino as ov
def runner():
    p = ov.opset13.parameter([-1, 8], ov.Type.f32)
    run = ShapeCompiled(ov.Model([ov.opset13.relu(p)], [p]), {}, torch.float32)
    run(torch.ones(2, 8))
    return run
signal.signal(signal.SIGUSR1, lambda *_: print("handled", flush=True))
first, second = runner(), runner()
del first; gc.collect()
del second; gc.collect()
os.kill(os.getpid(), signal.SIGUSR1)
print("alive", flush=True)
"""


def test_models_freed_in_any_order_leave_signal_handling_intact() -> None:
    done = subprocess.run([sys.executable, "-c", FREED_OUT_OF_ORDER], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.split() == ["handled", "alive"]


def test_every_runner_shares_the_process_core() -> None:
    import openvino as ov

    p = ov.opset13.parameter([-1, 4], ov.Type.f32)
    model = ov.Model([ov.opset13.relu(p)], [p])
    first, second = (ShapeCompiled(model, {}, torch.float32) for _ in range(2))
    assert first.core is second.core is openvino_core()
    assert torch.equal(first(torch.tensor([[-1.0, 2.0, -3.0, 4.0]])),
                       torch.tensor([[0.0, 2.0, 0.0, 4.0]]))
