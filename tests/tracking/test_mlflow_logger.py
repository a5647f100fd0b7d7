"""MlflowLogger and the sweep parent against a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from avbench.journal import FAILED, FINISHED, RunResult
from avbench.sweeps.parent import close_parent
from avbench.tracking.logger import resolve_tracking_uri
from avbench.tracking.mlflow_logger import MlflowLogger, TrackingError, open_client


def test_run_records_params_metrics_tags_artifacts(mlflow_store: str, tmp_path: Path) -> None:
    logger = MlflowLogger(uri=mlflow_store, experiment="unit")
    logger.start("svc-fast-fp32-pytorch-1s", tags={"device": "cpu"})
    params = {f"p{i}": i for i in range(150)} | {"long": "x" * 7000}
    logger.log_params(params)
    logger.log_metrics({"rtf": 0.25, "stage_ms.vocoder": 12.5})
    logger.log_series("repeat.total_ms", [10.0, 11.0, 12.0])
    logger.set_tags({"kernel.effective": "torch", "gpu.profile_match": None})
    artifact = tmp_path / "timings.csv"
    artifact.write_text("repeat,total_ms\n0,10\n")
    logger.log_artifact(artifact)
    logger.end(FINISHED)

    client = MlflowClient(tracking_uri=mlflow_store)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "svc-fast-fp32-pytorch-1s"
    assert len([k for k in run.data.params if k.startswith("p")]) == 150
    assert len(run.data.params["long"]) == 6000
    assert run.data.metrics == {"rtf": 0.25, "stage_ms.vocoder": 12.5, "repeat.total_ms": 12.0}
    history = client.get_metric_history(logger.run_id, "repeat.total_ms")
    assert [(m.step, m.value) for m in history] == [(0, 10.0), (1, 11.0), (2, 12.0)]
    assert run.data.tags["device"] == "cpu" and run.data.tags["gpu.profile_match"] == ""
    assert [a.path for a in client.list_artifacts(logger.run_id)] == ["timings.csv"]


def test_failed_run_carries_its_error(mlflow_store: str) -> None:
    logger = MlflowLogger(uri=mlflow_store, experiment="unit")
    logger.start("broken", tags={})
    logger.end(FAILED, "audio file not found: x.wav")
    run = MlflowClient(tracking_uri=mlflow_store).get_run(logger.run_id)
    assert run.info.status == "FAILED" and run.data.tags["error"] == "audio file not found: x.wav"


def test_children_and_parent_summary(mlflow_store: str) -> None:
    client = open_client(mlflow_store)
    experiment_id = client.create_experiment("sweep")
    parent = client.create_run(experiment_id, run_name="sweep").info.run_id
    results = []
    for name, status in [("a", FINISHED), ("b", FAILED)]:
        child = MlflowLogger(uri=mlflow_store, experiment="sweep", parent_run_id=parent)
        child.start(name, tags={})
        child.end(status, None if status == FINISHED else "boom")
        results.append(RunResult(name, status, child.run_id, None if status == FINISHED else "boom"))
    close_parent(client, parent, results, wall_s=3.5)
    runs = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent}'")
    assert sorted(r.info.run_name for r in runs) == ["a", "b"]
    parent_run = client.get_run(parent)
    assert parent_run.info.status == "FAILED"
    assert parent_run.data.metrics == {"sweep.cells": 2, "sweep.failed": 1, "sweep.invalid": 0,
                                       "sweep.wall_s": 3.5}
    assert "b: boom" in parent_run.data.tags["error"]


def test_command_line_uri_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from hydra import compose, initialize_config_dir

    from avbench.config import register_configs
    from avbench.tracking.logger import SWEEP_URI_ENV
    from tests.conftest import REPO

    register_configs()
    monkeypatch.delenv(SWEEP_URI_ENV, raising=False)
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
        assert compose("config").tracking.uri == "sqlite:///elsewhere.db"
        given = compose("config", overrides=["tracking.uri=sqlite:///mine.db"])
        assert resolve_tracking_uri(given.tracking.uri) == "sqlite:///mine.db"
        monkeypatch.delenv("MLFLOW_TRACKING_URI")
        assert compose("config").tracking.uri == "sqlite:///mlflow.db"
    # A sweep's job writes where its parent did, whatever its own working directory.
    monkeypatch.setenv(SWEEP_URI_ENV, "sqlite:////sweeps/parent.db")
    assert resolve_tracking_uri("sqlite:///mine.db") == "sqlite:////sweeps/parent.db"


def test_unreachable_store_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(TrackingError, match="cannot open the MLflow store"):
        open_client(f"sqlite:///{blocker}/sub/mlflow.db")
