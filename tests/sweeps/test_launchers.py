"""Sweeps through the real CLI under real Hydra launchers: the store is the record."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from avbench.sweeps.placement import parse_cores
from tests.conftest import REPO, run_cli, start_cli

CHEAP = ["pipeline=calibration", "audio=1s", "bench.warmup=0", "bench.min_repeats=2",
         "bench.min_time_s=0", "tracking.output_sample_s=0"]


def sweep_runs(uri: str) -> tuple[object, list]:
    """The one parent and its children in the store."""
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("avbench")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("avbench.sweep") == "true"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    return parent, children


def assert_failing_cell_sweep(done, uri: str, tmp_path: Path) -> None:
    """Two cells, the second a missing audio file: exit 1, parent FAILED, table from store."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert "sweep · 2 cells" in done.stdout and "1 of 2 cells failed" in done.stdout
    parent, children = sweep_runs(uri)
    assert parent.info.status == "FAILED"
    assert parent.data.params["sweep.axis.audio.path"].startswith("null,")
    by_job = {c.data.tags["avbench.job_num"]: c for c in children}
    assert by_job["0"].info.status == "FINISHED" and by_job["0"].data.metrics["rtf"] > 0
    assert by_job["1"].info.status == "FAILED" and "not found" in by_job["1"].data.tags["error"]
    for child in children:
        assert len(child.data.tags["avbench.cell_key"]) == 16
    assert by_job["0"].data.tags["avbench.cell_key"] != by_job["1"].data.tags["avbench.cell_key"]
    artifacts = {a.path for a in MlflowClient(uri).list_artifacts(parent.info.run_id)}
    assert {"sweep.csv", "sweep.json", "sweep.md"} <= artifacts
    assert (tmp_path / "sweep" / "sweep.csv").read_text().count("\n") == 3


@pytest.mark.slow
def test_joblib_two_workers_pinned_with_a_failing_cell(mlflow_store: str, asset_cache: Path,
                                                       tmp_path: Path) -> None:
    done = run_cli("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *CHEAP,
                   f"audio.path=null,{tmp_path}/missing.wav", "sweep.retries=1",
                   f"paths.cache_dir={asset_cache}", f"hydra.sweep.dir={tmp_path}/sweep",
                   cwd=tmp_path)
    assert_failing_cell_sweep(done, mlflow_store, tmp_path)
    parent, children = sweep_runs(mlflow_store)
    assert parent.data.params["sweep.launcher"] == "joblib"
    # A missing file is a user error: never retried.
    assert len(children) == 2 and {c.data.tags["avbench.attempt"] for c in children} == {"0"}
    assert {c.data.tags["bench.concurrent_cells"] for c in children} == {"2"}
    if len(os.sched_getaffinity(0)) >= 2:  # disjoint cores, matching thread counts
        cores = [parse_cores(c.data.tags["bench.cpu_affinity"]) for c in children]
        assert not cores[0] & cores[1]
        assert all(c.data.tags["threads.torch"] == str(len(parse_cores(
            c.data.tags["bench.cpu_affinity"]))) for c in children
            if c.info.status == "FINISHED")
    # Jobs ran in worker processes: the parent process never saw them, the store did.
    assert {c.data.tags["avbench.process.pid"] for c in children}.isdisjoint({str(os.getpid())})


@pytest.mark.slow
def test_a_crashed_cell_is_retried(mlflow_store: str, asset_cache: Path, tmp_path: Path) -> None:
    # A pipeline whose constructor raises RuntimeError: a crash, not a user error.
    (tmp_path / "crash.py").write_text(
        "from avbench.pipelines.calibration import CalibrationPipeline\n"
        "class Crash(CalibrationPipeline):\n    def __init__(self, **kwargs) -> None:\n"
        "        raise RuntimeError('a crash')\n")
    real = "avbench.pipelines.calibration.CalibrationPipeline"
    done = run_cli("-m", *CHEAP, f"pipeline._target_=crash.Crash,{real}", "sweep.retries=2",
                   f"paths.cache_dir={asset_cache}", f"hydra.sweep.dir={tmp_path}/sweep",
                   cwd=tmp_path, env={"PYTHONPATH": f"{REPO}:{tmp_path}"})
    assert done.returncode == 1, done.stdout + done.stderr
    parent, children = sweep_runs(mlflow_store)
    crashed = sorted((c for c in children if c.data.tags["avbench.job_num"] == "0"),
                     key=lambda c: c.data.tags["avbench.attempt"])
    assert [c.data.tags["avbench.attempt"] for c in crashed] == ["0", "1", "2"]
    assert all(c.info.status == "FAILED" and "RuntimeError" in c.data.tags["error"]
               for c in crashed)
    (fine,) = [c for c in children if c.data.tags["avbench.job_num"] == "1"]
    assert fine.info.status == "FINISHED" and fine.data.tags["avbench.attempt"] == "0"
    assert parent.data.tags["sweep.retried"] == "1" and parent.info.status == "FAILED"
    assert "sweep · 2 cells" in done.stdout and "1 of 2 cells failed" in done.stdout


@pytest.mark.slow
def test_ray_local_cluster_with_a_failing_cell(mlflow_store: str, asset_cache: Path,
                                               tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="needs avbench[ray]")
    done = run_cli("-m", "hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2",
                   "+hydra.launcher.ray.init.include_dashboard=false", *CHEAP,
                   f"audio.path=null,{tmp_path}/missing.wav", f"paths.cache_dir={asset_cache}",
                   f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path)
    assert_failing_cell_sweep(done, mlflow_store, tmp_path)
    parent, _ = sweep_runs(mlflow_store)
    assert parent.data.params["sweep.launcher"] == "ray"


@pytest.mark.slow
def test_a_worker_killed_mid_cell_is_lost_never_running(mlflow_store: str, asset_cache: Path,
                                                        tmp_path: Path) -> None:
    sweep = start_cli("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *CHEAP[:-2],
                      "bench.min_time_s=60,61", f"paths.cache_dir={asset_cache}",
                      f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path)
    client = MlflowClient(tracking_uri=mlflow_store)
    victim = None
    deadline = time.monotonic() + 240
    while victim is None and time.monotonic() < deadline and sweep.poll() is None:
        time.sleep(0.5)
        experiment = client.get_experiment_by_name("avbench")
        running = client.search_runs([experiment.experiment_id],
                                     "attributes.status = 'RUNNING'") if experiment else []
        victim = next((r for r in running if "avbench.process.pid" in r.data.tags
                       and "mlflow.parentRunId" in r.data.tags), None)  # a cell, not the sweep
    assert victim is not None, "no cell started"
    os.kill(int(victim.data.tags["avbench.process.pid"]), signal.SIGKILL)
    stdout, stderr = sweep.communicate(timeout=300)
    assert sweep.returncode == 1, stdout + stderr
    killed = client.get_run(victim.info.run_id)
    assert killed.info.status == "KILLED" and killed.data.tags["avbench.lost"] == "true"
    # One line with the real cause; each cell counted once (lost, never also "failed").
    assert "Traceback" not in stdout + stderr and "SystemExit" not in stdout + stderr
    (line,) = stderr.strip().splitlines()
    assert line == ("avbench: error: the sweep stopped early: a worker process died "
                    "(TerminatedWorkerError: exit codes {SIGKILL(-9)})"), line
    assert "TerminatedWorkerError" in killed.data.tags["error"]
    lost = re.search(r"(\d) of 2 cells lost: .*" + re.escape(victim.info.run_name), stdout)
    assert lost is not None and "cells failed" not in stdout, stdout
    finished = sum(c.info.status == "FINISHED" for c in sweep_runs(mlflow_store)[1])
    assert int(lost.group(1)) + finished == 2
    parent, _ = sweep_runs(mlflow_store)
    assert parent.info.status == "FAILED" and int(parent.data.tags["sweep.lost"]) >= 1


@pytest.mark.slow
def test_sweep_logs_to_a_real_mlflow_server(mlflow_server: str, asset_cache: Path,
                                            tmp_path: Path) -> None:
    done = run_cli("-m", *CHEAP, "pipeline.stage_ms.long=50,100",
                   f"paths.cache_dir={asset_cache}", f"hydra.sweep.dir={tmp_path}/sweep",
                   cwd=tmp_path, env={"MLFLOW_TRACKING_URI": mlflow_server})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"--backend-store-uri {mlflow_server}" in done.stdout
    assert not (tmp_path / "mlflow.db").exists()
    parent, children = sweep_runs(mlflow_server)
    assert parent.info.status == "FINISHED" and len(children) == 2
    assert all(c.info.status == "FINISHED" for c in children)
    assert parent.data.params["sweep.axis.pipeline.stage_ms.long"] == "50,100"
    artifacts = {a.path for a in MlflowClient(mlflow_server).list_artifacts(parent.info.run_id)}
    assert "sweep.json" in artifacts
