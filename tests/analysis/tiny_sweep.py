"""A tiny real store shared by the analysis, task and CLI tests: made once per session.

Two sweeps through the real CLI: a calibration sweep whose two cells differ only in
the known cost of one stage (a regression of known size; the stage is added in Hydra's
``+key`` form, so a ``+key`` sweep's bookkeeping is exercised too), then an SVC sweep of
four cells, two of which fail on a CPU-only machine (gpu=h100 needs CUDA).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from tests.conftest import run_cli
from tests.shared_runs import SLOW_FIGURES_OFF

CALIBRATION_MS = {"short": 2.0, "medium": 20.0, "long": 100.0}
# A stage added in Hydra's `+key` form: free in the baseline, 60 ms in the candidate (+60 ms
# on a ~122 ms run).
EXTRA_MS = (0.0, 60.0)
SVC_SWEEP = ("preset=fast", "precision=fp32,bf16", "gpu=cpu,h100", "audio=1s",
             "bench.min_repeats=5", "bench.min_time_s=0", "bench.warmup=0",
             "tracking.output_sample_s=0", SLOW_FIGURES_OFF)
# Without CUDA the gpu=h100 cells fail; with it they may run, so tests check either way.
EXPECTED_FAILED = 0 if torch.cuda.is_available() else 2


@dataclass(frozen=True)
class TinySweep:
    uri: str
    root: Path
    sweep_id: str  # the SVC sweep (the latest)
    sweep_dir: Path
    calibration_sweep_id: str
    baseline_run_id: str  # calibration, extra stage 0 ms
    candidate_run_id: str  # calibration, extra stage 60 ms
    sweep_returncode: int
    sweep_stdout: str  # what the SVC sweep printed (its end-of-sweep table)


def _parent(client, sweep_dir: Path) -> str:
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              f"tags.`avbench.sweep.dir` = '{sweep_dir}'")
    assert len(runs) == 1, f"expected one parent for {sweep_dir}, found {len(runs)}"
    return runs[0].info.run_id


def make_tiny_sweep(root: Path, template_db: Path, asset_cache: Path) -> TinySweep:
    """Fill ``root/mlflow.db`` once; later calls (another test directory) reuse it."""
    from mlflow.tracking import MlflowClient

    marker = root / "tiny_sweep.json"
    if marker.exists():
        record = json.loads(marker.read_text())
        return TinySweep(**record | {"root": Path(record["root"]),
                                     "sweep_dir": Path(record["sweep_dir"])})
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(template_db, root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    env = {"MLFLOW_TRACKING_URI": uri}
    calibration_dir = root / "calibration"
    done = run_cli("-m", "pipeline=calibration", "audio=1s", "bench.min_repeats=8",
                   "bench.min_time_s=0", "tracking.output_sample_s=0",
                   f"+pipeline.stage_ms.extra={EXTRA_MS[0]},{EXTRA_MS[1]}",
                   f"paths.cache_dir={asset_cache}", f"hydra.sweep.dir={calibration_dir}",
                   cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    sweep_dir = root / "svc"
    svc = run_cli("-m", *SVC_SWEEP, f"paths.cache_dir={asset_cache}",
                  f"hydra.sweep.dir={sweep_dir}", cwd=root, env=env)
    assert svc.returncode == (1 if EXPECTED_FAILED else 0), svc.stdout + svc.stderr

    client = MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert not client.search_runs(experiments, "attributes.status = 'RUNNING'")
    calibration_id = _parent(client, calibration_dir)
    by_extra = {r.data.params["pipeline.stage_ms.extra"]: r.info.run_id for r in client.search_runs(
        experiments, f"tags.`mlflow.parentRunId` = '{calibration_id}'")}
    sweep = TinySweep(uri=uri, root=root, sweep_id=_parent(client, sweep_dir),
                      sweep_dir=sweep_dir, calibration_sweep_id=calibration_id,
                      baseline_run_id=by_extra[str(EXTRA_MS[0])],
                      candidate_run_id=by_extra[str(EXTRA_MS[1])],
                      sweep_returncode=svc.returncode, sweep_stdout=svc.stdout)
    marker.write_text(json.dumps(asdict(sweep), default=str))
    return sweep
