"""How a run fails: always ended with its status, one line for the user, the detail in the
run log; a checkpoint's real problem shown; a store that cannot be written said plainly."""

from __future__ import annotations

import os
import pickle
import random
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from avbench import runner
from avbench.models.checkpoint import save_checkpoint
from tests.conftest import REPO, run_cli
from tests.tasks.test_pipeline_task import compose_run

CHEAP = ["pipeline=calibration", "debug=default"]


class _Code:
    def __reduce__(self) -> tuple:
        return (os.getcwd, ())


def test_unwritable_artifact_store_still_ends_the_run(mlflow_store: str, tmp_path: Path,
                                                      asset_cache: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    client = MlflowClient(tracking_uri=mlflow_store)
    client.create_experiment("avbench", artifact_location=f"file://{blocker}/artifacts")
    result = runner.run(compose_run(tmp_path, asset_cache, "tracking=mlflow", *CHEAP))
    assert not result.ok and result.run_id is not None
    run = client.get_run(result.run_id)
    assert run.info.status == "FAILED"  # not RUNNING: ending came first
    assert run.data.tags["error"] == result.error


@pytest.mark.parametrize(("case", "words"), [
    ("pickle", "not a weights-only checkpoint"), ("missing", "checkpoint not found"),
    ("folder", "is a folder, not a file"),
    ("random", "not a torch checkpoint, or a damaged one (neither the zip archive"),
    ("truncated", "not a torch checkpoint, or a damaged one")])
def test_checkpoint_problem_is_the_line_the_user_sees(
        tmp_path: Path, asset_cache: Path, capsys: pytest.CaptureFixture[str], case: str,
        words: str) -> None:
    path = tmp_path / f"{case}.pt"
    if case == "pickle":
        path.write_bytes(pickle.dumps({"vocoder": {"weight": _Code()}}))
    elif case == "folder":
        path.mkdir()
    elif case == "random":
        path.write_bytes(random.Random(0).randbytes(4096))
    elif case == "truncated":
        save_checkpoint(path, {"vocoder": torch.nn.Linear(64, 64)})
        path.write_bytes(path.read_bytes()[:2000])
    result = runner.run(compose_run(tmp_path, asset_cache, f"pipeline.checkpoint={path}"))
    assert not result.ok and words in result.error
    assert "InstantiationException" not in result.error
    assert ("Python objects or code" in result.error) == (case == "pickle")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


@pytest.mark.slow
def test_unexpected_error_traceback_only_in_the_run_log(mlflow_store: str, tmp_path: Path,
                                                        asset_cache: Path) -> None:
    (tmp_path / "boom.py").write_text(
        "from avbench.pipelines.calibration import CalibrationPipeline\n"
        "class Boom(CalibrationPipeline):\n    def __init__(self, **kwargs) -> None:\n"
        "        raise RuntimeError('boom: the constructor failed')\n")
    done = run_cli(*CHEAP, "pipeline._target_=boom.Boom", f"paths.cache_dir={asset_cache}",
                   cwd=tmp_path, env={"PYTHONPATH": f"{REPO}:{tmp_path}"})
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("avbench: error: RuntimeError: boom: the constructor failed "
                           "(traceback in ")
    client = MlflowClient(tracking_uri=mlflow_store)
    (run,) = client.search_runs([client.get_experiment_by_name("avbench").experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == "RuntimeError: boom: the constructor failed"
    log = Path(client.download_artifacts(run.info.run_id, "avbench.log")).read_text()
    assert "Traceback" in log and "raise RuntimeError('boom" in log


def _make_read_only(db: Path) -> None:
    if os.geteuid() != 0:
        db.chmod(0o444)
        db.parent.chmod(0o555)
    elif shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        pytest.skip("running as root and chattr +i is not available: no read-only file")


def _make_writable(db: Path) -> None:
    if os.geteuid() != 0:
        db.parent.chmod(0o755)
        db.chmod(0o644)
    else:
        subprocess.run(["chattr", "-i", str(db)], check=True)


@pytest.mark.slow
def test_read_only_store_is_one_line(tmp_path: Path, mlflow_template_db: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    db = store / "mlflow.db"
    shutil.copy(mlflow_template_db, db)
    uri = f"sqlite:///{db}"
    _make_read_only(db)
    try:
        done = run_cli(*CHEAP, cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    finally:
        _make_writable(db)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"avbench: error: the MLflow store {uri} is read-only (make it writable, point "
        "tracking.uri elsewhere, or use tracking=none)"]
