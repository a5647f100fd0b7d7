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
    lenient = doctor.check_timing_noise(compose_run(tmp_path, asset_cache, "bench.max_cv=10").bench,
                                        seconds=1.0)
    assert lenient.status == doctor.PASS and "fixed work varies" in lenient.detail
    strict = doctor.check_timing_noise(compose_run(tmp_path, asset_cache, "bench.max_cv=0").bench,
                                       seconds=1.0)
    assert strict.status == doctor.WARN and "bench.max_cv=0" in strict.fix


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
                               "task.noise_probe_s=1.0"))
    assert ok.ok and ok.metrics["doctor.fail"] == 0 and ok.metrics["doctor.pass"] >= 5
    out = capsys.readouterr().out
    assert "avbench doctor" in out and "timing noise" in out
    if torch.cuda.is_available():
        return
    failed = runner.run(compose_run(tmp_path, asset_cache, "task=doctor", "gpu=a100",
                                   "task.noise_probe_s=0"))
    assert not failed.ok and journal.exit_code() == 1
    assert "1 check(s) failed (gpu profile)" in capsys.readouterr().err
