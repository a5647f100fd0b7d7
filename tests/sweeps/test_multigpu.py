"""Per-device figures and summed throughput, read from a real sweep's store."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from avbench.analysis.multigpu import per_device
from tests.conftest import run_cli
from tests.sweeps.test_launchers import CHEAP, sweep_runs


@pytest.mark.slow
def test_replicas_on_two_devices_side_by_side_and_summed(mlflow_store: str, asset_cache: Path,
                                                         tmp_path: Path) -> None:
    # Two replicas of one cell at once, each on its own core (the CPU's "devices" here;
    # on a GPU machine each replica gets its own CUDA_VISIBLE_DEVICES the same way).
    done = run_cli("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *CHEAP,
                   "sweep.replica=0,1", f"paths.cache_dir={asset_cache}",
                   f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    parent, children = sweep_runs(mlflow_store)
    table = per_device(MlflowClient(tracking_uri=mlflow_store), parent.info.run_id)
    assert len(table) == 1  # one cell: the replicas share its config
    devices = {c.data.tags["bench.cpu_affinity"] for c in children}
    assert int(table[("devices", "")].iloc[0]) == len(devices)
    asps = [c.data.metrics["asps"] for c in children]
    assert table[("asps", "sum")].iloc[0] == pytest.approx(sum(asps))
    if len(devices) == 2:  # each device's own figure, side by side
        assert sorted(table["rtf"].iloc[0]) == sorted(c.data.metrics["rtf"] for c in children)
