"""MLflow -> pandas on a real store filled by real CLI runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from avbench.analysis import runs
from tests.analysis.tiny_sweep import EXPECTED_FAILED, TinySweep


def test_one_row_per_run_with_choices_metrics_and_hardware(store, tiny_sweep: TinySweep) -> None:
    frame = runs.load_runs(store, sweep=tiny_sweep.sweep_id)
    assert len(frame) == 4 and frame["run_id"].is_unique
    for column in ("run_id", "run_name", "status", "start_time", "sweep_id", "hardware_key",
                   "preset", "precision", "gpu", "audio", "pipeline", "rtf", "memory_peak_mb",
                   "stage_ms.vocoder", "cell"):
        assert column in frame.columns, column
    assert set(frame["sweep_id"]) == {tiny_sweep.sweep_id}
    assert set(frame["precision"]) == {"fp32", "bf16"} and set(frame["gpu"]) == {"cpu", "h100"}
    assert isinstance(frame["start_time"].dtype, pd.DatetimeTZDtype)
    assert frame["start_time"].is_monotonic_increasing
    assert (frame["status"] == "FAILED").sum() == EXPECTED_FAILED
    for row in frame[frame["status"] == "FINISHED"].itertuples():
        logged = store.get_run(row.run_id).data
        assert row.rtf == logged.metrics["rtf"]
        assert row.hardware_key == logged.tags["hardware.key"]
    # Cells are labelled by the groups that vary in the sweep only.
    assert set(frame["cell"]) == {f"precision={p} gpu={g}" for p in ("fp32", "bf16")
                                  for g in ("cpu", "h100")}


def test_filters(store, tiny_sweep: TinySweep) -> None:
    everything = runs.load_runs(store)
    assert len(everything) == 6  # 2 calibration cells + 4 SVC cells; parents left out
    with_parents = runs.load_runs(store, include_sweep_parents=True)
    assert len(with_parents) == 8
    failed = runs.load_runs(store, status="failed")
    assert len(failed) == EXPECTED_FAILED and set(failed["status"]) <= {"FAILED"}
    if EXPECTED_FAILED:
        assert failed["error"].str.contains("CUDA").all()
    svc = runs.load_runs(store, sweep=tiny_sweep.sweep_id)
    since = runs.load_runs(store, since=svc["start_time"].min())
    assert set(since["run_id"]) == set(svc["run_id"])
    until = runs.load_runs(store, until=svc["start_time"].min() - pd.Timedelta(milliseconds=1))
    assert len(until) == 2 and set(until["pipeline"]) == {"calibration"}
    assert runs.load_runs(store, experiment=None).shape[0] == 6


def test_latest_sweep_and_resolving_ids(store, tiny_sweep: TinySweep) -> None:
    assert runs.latest_sweep(store) == tiny_sweep.sweep_id
    assert len(runs.resolve_runs(store, tiny_sweep.calibration_sweep_id)) == 2
    single = runs.resolve_runs(store, tiny_sweep.baseline_run_id)
    assert list(single["run_id"]) == [tiny_sweep.baseline_run_id]
    with pytest.raises(runs.AnalysisError, match="no run 'nope'"):
        runs.resolve_runs(store, "nope")
    with pytest.raises(runs.AnalysisError, match="no experiment"):
        runs.load_runs(store, experiment="not-there")


def test_per_repeat_samples_match_the_logged_medians(store, tiny_sweep: TinySweep) -> None:
    frame = runs.load_runs(store, sweep=tiny_sweep.sweep_id, status="FINISHED")
    for row in frame.itertuples():
        samples = runs.load_samples(store, row.run_id)
        stages = [c for c in frame.columns if c.startswith("stage_ms.") and c.count(".") == 1]
        assert list(samples.columns[[0, -1]]) == ["repeat", "total_ms"]
        assert set(samples.columns[1:-1]) == {f"{s.removeprefix('stage_ms.')}_ms" for s in stages}
        assert len(samples) == row.repeats
        assert np.median(samples["total_ms"]) == pytest.approx(store.get_run(
            row.run_id).data.metrics["total_ms"], rel=1e-9)
    if EXPECTED_FAILED:
        failed = runs.load_runs(store, sweep=tiny_sweep.sweep_id, status="FAILED")
        with pytest.raises(runs.AnalysisError, match="no timings.csv"):
            runs.load_samples(store, failed["run_id"].iloc[0])


def test_missing_store_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(runs.AnalysisError, match="no MLflow store"):
        runs.open_store(f"sqlite:///{tmp_path}/absent.db")


def test_the_default_store_is_found_up_to_the_project_root(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From notebooks/ (a kernel's working directory) or any folder below the project's root,
    the project's mlflow.db; never a store above the root; MLFLOW_TRACKING_URI first."""
    from avbench.tracking.logger import DEFAULT_URI, default_tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    project = tmp_path / "outer" / "project"
    (project / "notebooks" / "deep").mkdir(parents=True)
    (project / "pyproject.toml").touch()
    (tmp_path / "outer" / "mlflow.db").touch()  # another project's store, above this root
    assert default_tracking_uri(project / "notebooks") == DEFAULT_URI
    (project / "mlflow.db").touch()
    found = f"sqlite:///{project / 'mlflow.db'}"
    assert default_tracking_uri(project / "notebooks" / "deep") == found
    assert default_tracking_uri(project) == found
    monkeypatch.chdir(project / "notebooks")
    assert default_tracking_uri() == found
    with pytest.raises(runs.AnalysisError, match="an empty file"):  # found, and checked
        runs.open_store()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert default_tracking_uri(project / "notebooks") == "http://mlflow:5000"
