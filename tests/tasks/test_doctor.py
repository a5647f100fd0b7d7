"""task=doctor on this machine: the expected passes, warnings and failures."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from avbench import journal, runner
from avbench.tasks import doctor
from tests.tasks.test_pipeline_task import compose_run


def test_checks_on_this_machine(mlflow_store: str, tmp_path: Path, asset_cache: Path) -> None:
    cfg = compose_run(tmp_path, asset_cache, "task=doctor", "tracking=mlflow")
    assert doctor.check_python().status == doctor.PASS
    assert doctor.check_triton().status == doctor.PASS
    assert doctor.check_onnxruntime().status == doctor.PASS
    assert doctor.check_mlflow(cfg.tracking).status == doctor.PASS
    assert doctor.check_cache(asset_cache).status == doctor.PASS
    assert doctor.check_compile().status == doctor.PASS  # g++ is on this machine
    import torch._inductor.config as inductor

    with inductor.patch({"cpp.cxx": ("avbench-no-such-c++",)}):
        missing = doctor.check_compile()
    assert missing.status == doctor.WARN and "g++" in missing.fix
    if not torch.cuda.is_available():
        assert doctor.check_cuda().status == doctor.WARN
        a100 = compose_run(tmp_path, asset_cache, "gpu=a100").gpu
        failed = doctor.check_gpu_profile(a100)
        assert failed.status == doctor.FAIL and "gpu=auto" in failed.fix
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        assert doctor.check_tensorrt().status == doctor.WARN


def test_timing_noise_against_max_cv(tmp_path: Path, asset_cache: Path) -> None:
    bench = compose_run(tmp_path, asset_cache).bench
    lenient = doctor.check_timing_noise(bench, seconds=1.0, max_cv=10.0)
    assert lenient.status == doctor.PASS and "fixed work varies" in lenient.detail
    strict = doctor.check_timing_noise(bench, seconds=1.0, max_cv=0.0)
    assert strict.status == doctor.WARN and "validity.max_cv=0" in strict.fix


def test_unwritable_store_fails(tmp_path: Path, asset_cache: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cfg = compose_run(tmp_path, asset_cache, f"tracking.uri=sqlite:///{blocker}/x/mlflow.db",
                      "tracking=mlflow")
    check = doctor.check_mlflow(cfg.tracking)
    assert check.status == doctor.FAIL and "tracking.uri" in check.fix


def test_doctor_run_passes_or_fails_the_process(tmp_path: Path, asset_cache: Path,
                                                mlflow_store: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    ok = runner.run(compose_run(tmp_path, asset_cache, "task=doctor", "tracking=mlflow",
                               "task.noise_probe_s=1.0", "task.peaks_s=0.1"))
    assert ok.ok and ok.metrics["doctor.fail"] == 0 and ok.metrics["doctor.pass"] >= 5
    out = capsys.readouterr().out
    assert "avbench doctor" in out and "timing noise" in out
    if torch.cuda.is_available():
        return
    failed = runner.run(compose_run(tmp_path, asset_cache, "task=doctor", "gpu=a100",
                                   "task.noise_probe_s=0", "task.peaks_s=0"))
    assert not failed.ok and journal.exit_code() == 1
    assert "1 check(s) failed (gpu profile)" in capsys.readouterr().err


def test_tensorrt_pair_compares_the_providers_major_with_what_is_installed() -> None:
    ok = doctor.tensorrt_pair(10, {10: "tensorrt-cu13-libs 10.16.1.11"}, "13")
    assert ok.status == doctor.PASS and "libnvinfer.so.10" in ok.detail
    wrong = doctor.tensorrt_pair(10, {11: "tensorrt-cu13-libs 11.4.0.106"}, "13")
    assert wrong.status == doctor.FAIL and "libnvinfer.so.11" in wrong.detail
    assert wrong.fix == "pip install 'tensorrt-cu13>=10,<11'"
    missing = doctor.tensorrt_pair(10, {}, "12")
    assert missing.status == doctor.WARN and missing.fix == "pip install 'tensorrt-cu12>=10,<11'"
    assert doctor.tensorrt_pair(None, {}, "13").status == doctor.WARN


def test_tensorrt_pair_on_this_machine() -> None:
    import onnxruntime

    check = doctor.check_tensorrt_pair()
    if "TensorrtExecutionProvider" not in onnxruntime.get_available_providers():
        assert check.status == doctor.PASS and "no TensorRT provider" in check.detail
    else:  # a GPU machine with onnxruntime-gpu: the pair must match (pyproject's gpu extra)
        assert check.status == doctor.PASS, check.detail
