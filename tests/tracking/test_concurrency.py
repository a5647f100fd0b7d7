"""Real `python -m avbench` processes on one SQLite store at once: three on a fresh store
(migrated under the lock by whichever comes first), then three more on it, now initialised:
every run is recorded FINISHED, each in its own output folder with its own files. (Three at
a time already outnumber the two cores the suite runs on; docs/reliability.md has the
eight-process run by hand.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.conftest import start_cli

PROCESSES = 3  # at once


def _concurrent_runs(work: Path, uri: str, asset_cache: Path, first: int) -> None:
    """PROCESSES runs started at once, slots ``first`` on; each must succeed."""
    started = [start_cli("pipeline=calibration", "debug=default", f"+tags.slot=s{i}",
                         f"paths.cache_dir={asset_cache}", cwd=work,
                         env={"MLFLOW_TRACKING_URI": uri})
               for i in range(first, first + PROCESSES)]
    outcomes = [(p.wait(timeout=1200), p.communicate()) for p in started]
    for code, (stdout, stderr) in outcomes:
        assert code == 0, stdout[-2000:] + stderr[-2000:]


def _runs(uri: str) -> list:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("avbench")
    return client.search_runs([experiment.experiment_id])


def _check_own_folders(work: Path, uri: str, runs: list) -> None:
    client = MlflowClient(tracking_uri=uri)
    folders = sorted((work / "outputs").glob("*/*"))
    assert len(folders) == len(runs)
    for run in runs:
        (folder,) = [f for f in folders if f.name.endswith(f"-{run.info.run_id}")]
        logged = yaml.safe_load(Path(client.download_artifacts(
            run.info.run_id, "config.yaml")).read_text())
        on_disk = yaml.safe_load((folder / "config.yaml").read_text())
        assert logged["tags"]["slot"] == on_disk["tags"]["slot"] == run.data.tags["slot"]


@pytest.mark.slow
def test_concurrent_processes_on_a_fresh_then_an_initialised_store(
        tmp_path: Path, asset_cache: Path) -> None:
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    assert not db.exists()  # fresh: the first process to take the lock migrates it
    _concurrent_runs(tmp_path, uri, asset_cache, first=0)
    assert len(_runs(uri)) == PROCESSES
    _concurrent_runs(tmp_path, uri, asset_cache, first=PROCESSES)  # now initialised
    runs = _runs(uri)
    assert len(runs) == 2 * PROCESSES
    assert [r.info.status for r in runs] == ["FINISHED"] * 2 * PROCESSES
    assert sorted(r.data.tags["slot"] for r in runs) == sorted(
        f"s{i}" for i in range(2 * PROCESSES))
    assert len({r.data.tags["avbench.process.pid"] for r in runs}) == 2 * PROCESSES
    _check_own_folders(tmp_path, uri, runs)
