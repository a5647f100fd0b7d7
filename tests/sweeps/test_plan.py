"""The sweep plan: an invalid cell is named before any run; core shares are disjoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from avbench.sweeps.placement import cores_for
from tests.conftest import run_cli


@pytest.mark.slow
def test_an_invalid_cell_is_named_before_any_run(mlflow_store: str, tmp_path: Path) -> None:
    done = run_cli("-m", "debug=default", "preset=fast,nonexistent",
                   f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "sweep cell #1 (debug=default preset=nonexistent) is invalid" in done.stderr
    assert "no cell was run" in done.stderr
    client = MlflowClient(tracking_uri=mlflow_store)
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert not client.search_runs(experiments)  # no parent, no child


@pytest.mark.slow
def test_resume_needs_a_sweep_name(mlflow_store: str, tmp_path: Path) -> None:
    done = run_cli("-m", "debug=default", "sweep.resume=true", "preset=fast,quality",
                   f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "sweep.resume=true needs sweep.name=" in done.stderr


def test_core_shares_are_disjoint_and_cover_the_machine() -> None:
    cores = [0, 1, 2, 3, 4, 5, 6, 7]
    shares = [cores_for(slot, 3, cores) for slot in range(3)]
    assert shares == [[0, 1], [2, 3], [4, 5]]
    assert [cores_for(slot, 2, [0, 1]) for slot in range(2)] == [[0], [1]]
    # More slots than cores: shares overlap, and the sweep summary warns about it.
    assert [cores_for(slot, 3, [0, 1]) for slot in range(3)] == [[0], [1], [0]]
