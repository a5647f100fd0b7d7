"""Eight real `python -m avbench` processes on one SQLite store at once: every run is
recorded FINISHED, on a fresh store (migrated under the lock by whichever comes first) and
on an initialised one, each in its own output folder with its own files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.conftest import start_cli

PROCESSES = 8


def _eight_runs(work: Path, uri: str, asset_cache: Path) -> list:
    started = [start_cli("pipeline=calibration", "debug=default", f"+tags.slot=s{i}",
                         f"paths.cache_dir={asset_cache}", cwd=work,
                         env={"MLFLOW_TRACKING_URI": uri}) for i in range(PROCESSES)]
    outcomes = [(p.wait(timeout=1200), p.communicate()) for p in started]
    for code, (stdout, stderr) in outcomes:
        assert code == 0, stdout[-2000:] + stderr[-2000:]
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("avbench")
    return client.search_runs([experiment.experiment_id])


def _check_own_folders(work: Path, uri: str, runs: list) -> None:
    client = MlflowClient(tracking_uri=uri)
    folders = sorted((work / "outputs").glob("*/*"))
    assert len(folders) == PROCESSES
    for run in runs:
        (folder,) = [f for f in folders if f.name.endswith(f"-{run.info.run_id}")]
        logged = yaml.safe_load(Path(client.download_artifacts(
            run.info.run_id, "config.yaml")).read_text())
        on_disk = yaml.safe_load((folder / "config.yaml").read_text())
        assert logged["tags"]["slot"] == on_disk["tags"]["slot"] == run.data.tags["slot"]


@pytest.mark.slow
@pytest.mark.parametrize("store", ["fresh", "initialised"])
def test_eight_processes_on_one_store(tmp_path: Path, asset_cache: Path,
                                      mlflow_template_db: Path, store: str) -> None:
    db = tmp_path / "mlflow.db"
    if store == "initialised":
        shutil.copy(mlflow_template_db, db)
    uri = f"sqlite:///{db}"
    runs = _eight_runs(tmp_path, uri, asset_cache)
    assert len(runs) == PROCESSES
    assert [r.info.status for r in runs] == ["FINISHED"] * PROCESSES
    assert sorted(r.data.tags["slot"] for r in runs) == [f"s{i}" for i in range(PROCESSES)]
    assert len({r.data.tags["avbench.process.pid"] for r in runs}) == PROCESSES
    _check_own_folders(tmp_path, uri, runs)
