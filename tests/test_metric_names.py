"""Every metric a run logs is in the registry docs/metrics.md is generated from
(avbench.tracking.keys; tests/tracking/test_keys.py holds the two together)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from avbench.tracking.keys import unregistered
from tests.conftest import run_cli


@pytest.mark.slow
def test_every_logged_metric_is_documented(tmp_path: Path, mlflow_store: str,
                                           asset_cache: Path) -> None:
    """A sweep of the SVC pipeline on ONNX Runtime (parity, cold start, side by side with
    eager, profiling overhead) and the calibration pipeline: runs and the sweep parent."""
    done = run_cli("-m", "pipeline=svc,calibration", "backend=onnxruntime", "debug=default",
                   "bench.eager_side_by_side=2", "bench.overhead_check=true",
                   f"paths.cache_dir={asset_cache}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(tracking_uri=mlflow_store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs)
    names = {name for run in runs for name in run.data.metrics}
    assert {"rtf", "parity.vocoder.rel_l2", "vs_eager.total_speedup",
            "calibration.error_pct.long", "harness.profiling_overhead_pct"} <= names
    assert "vs_eager.total_speedup.ci_low" not in names  # no interval from 2 pairs
    # debug=default leaves out the slow instruments, and says so on the run.
    svc = next(r for r in runs if r.data.tags.get("choice.pipeline") == "svc")
    assert svc.data.tags["quality.dnsmos.skipped"] == "bench.skip_evaluators"
    assert not any(n.startswith(("quality.dnsmos", "roofline.")) for n in svc.data.metrics)
    assert unregistered("metric", names) == set()
    for run in runs:
        assert unregistered("tag", run.data.tags) == set()
        assert unregistered("param", run.data.params) == set()
