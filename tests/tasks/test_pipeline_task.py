"""task=pipeline in process with tracking=none: artifacts on disk, journal, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from avbench import journal, runner
from avbench.config import register_configs
from tests.shared_runs import SLOW_FIGURES_OFF
from tests.test_config import CONF


def compose_run(tmp_path: Path, asset_cache: Path, *overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=[
            "tracking=none", "preset=fast", "audio=1s", "bench.warmup=0", "bench.min_repeats=2",
            "bench.min_time_s=0", SLOW_FIGURES_OFF,
            f"paths.cache_dir={asset_cache}", f"paths.output_dir={tmp_path / 'out'}",
            *overrides])


def test_run_without_tracking_writes_artifacts(tmp_path: Path, asset_cache: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.run(compose_run(tmp_path, asset_cache))
    assert result.ok and result.run_id is None and journal.exit_code() == 0
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} >= {"config.yaml", "environment.json", "output.wav",
                                              "performance_breakdown.json", "timings.csv",
                                              "metrics.json"}
    env = json.loads((out / "environment.json").read_text())
    for key in ("cpu_model", "hardware_key", "versions", "git", "python"):
        assert env[key]
    assert set(env["openmp_env"]) >= {"GOMP_SPINCOUNT", "OMP_WAIT_POLICY"}
    assert result.metrics["rtf"] > 0
    assert not (tmp_path / "mlflow.db").exists()


def test_failure_is_recorded_not_raised(tmp_path: Path, asset_cache: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU, so gpu=h100 may run")
    result = runner.run(compose_run(tmp_path, asset_cache, "gpu=h100"))
    assert not result.ok and result.error.startswith("gpu=h100 needs a CUDA GPU")
    assert journal.exit_code() == 1
    assert capsys.readouterr().err.strip() == f"avbench: error: {result.error}"


@pytest.mark.parametrize(("overrides", "name"), [
    ((), "svc-fast-fp32-pytorch-1s"),
    (("pipeline=tts", "text=short"), "tts-fast-fp32-pytorch-short"),  # its vocoder: the preset's
    (("pipeline=hibari", "text=short"), "hibari-fp32-pytorch-short"),
    (("pipeline=calibration", "kernel=torch"), "calibration-fp32-pytorch-1s-torch"),
    (("pipeline=custom", "pipeline._target_=mypkg.denoise.Denoiser", "backend=onnxruntime"),
     "Denoiser-fp32-onnxruntime-1s"),
    (("pipeline=custom", "pipeline._target_=mypkg.Denoiser", "pipeline.name=denoiser",
      "+pipeline.settings=${preset.svc}"), "denoiser-fast-fp32-pytorch-1s")])
def test_a_run_is_named_after_what_it_runs(tmp_path: Path, asset_cache: Path,
                                           overrides: tuple[str, ...], name: str) -> None:
    """The preset is in a name only when the pipeline reads it; a custom pipeline is named
    by its class (or the name it is given)."""
    from avbench.tasks.pipeline import run_name

    assert run_name(compose_run(tmp_path, asset_cache, *overrides)) == name
