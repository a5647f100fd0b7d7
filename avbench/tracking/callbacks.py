"""Hydra callback: one MLflow parent run per sweep, opened before any job starts.

Opening the store here also runs its migrations once, before the jobs: a
fresh SQLite store migrated by several jobs at once fails otherwise.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from avbench import journal
from avbench.console import print_sweep_summary
from avbench.tracking.liveness import end_dead_runs, process_tags
from avbench.tracking.logger import PARENT_RUN_ENV, PARENT_URI_ENV, resolve_tracking_uri


class MlflowSweepCallback(Callback):
    def __init__(self) -> None:
        self.client: Any = None
        self.parent_run_id: str | None = None
        self.started_at = 0.0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        journal.JOURNAL.clear()
        self.started_at = time.perf_counter()
        if not config.tracking.enabled:
            return
        from avbench.tracking.mlflow_logger import get_or_create_experiment, open_client

        self.client = open_client(resolve_tracking_uri(config.tracking.uri))
        end_dead_runs(self.client)  # runs left RUNNING by a killed process (liveness.py)
        experiment_id = get_or_create_experiment(self.client, config.tracking.experiment)
        overrides = " ".join(config.hydra.overrides.task)
        run = self.client.create_run(
            experiment_id,
            run_name=f"sweep-{time.strftime('%Y%m%d-%H%M%S')}",
            tags=process_tags() | {"avbench.sweep": "true", "avbench.sweep.overrides": overrides,
                  "avbench.sweep.dir": str(Path(config.hydra.sweep.dir).resolve())},
        )
        self.parent_run_id = run.info.run_id
        os.environ[PARENT_RUN_ENV] = self.parent_run_id
        os.environ[PARENT_URI_ENV] = resolve_tracking_uri(config.tracking.uri) or ""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        results = list(journal.JOURNAL)
        wall_s = time.perf_counter() - self.started_at
        print_sweep_summary(results, wall_s, self.parent_run_id)
        if self.parent_run_id is None:
            return
        os.environ.pop(PARENT_RUN_ENV, None)
        os.environ.pop(PARENT_URI_ENV, None)
        close_parent(self.client, self.parent_run_id, results, wall_s)
        self.parent_run_id = None


def close_parent(client: Any, run_id: str, results: list[journal.RunResult],
                 wall_s: float) -> None:
    """Summarise the children on the parent and end it FINISHED or FAILED."""
    failed = [r for r in results if not r.ok]
    client.log_metric(run_id, "sweep.cells", len(results))
    client.log_metric(run_id, "sweep.failed", len(failed))
    client.log_metric(run_id, "sweep.wall_s", wall_s)
    _summarise_rtf(client, run_id, results)
    for index, (cell, _, _, speedup) in enumerate(journal.cpu_gpu_speedups(results)):
        client.log_metric(run_id, f"sweep.cpu_vs_gpu_speedup.{index}", speedup)
        client.set_tag(run_id, f"sweep.cpu_vs_gpu_cell.{index}", cell)
    if failed:
        client.set_tag(run_id, "sweep.failed_cells", ", ".join(r.name for r in failed))
        client.set_tag(run_id, "error", "; ".join(f"{r.name}: {r.error}" for r in failed)[:5000])
    client.set_terminated(run_id, status="FAILED" if failed or not results else "FINISHED")


def _summarise_rtf(client: Any, run_id: str, results: list[journal.RunResult]) -> None:
    """Best cell and median RTF of the finished children, so the sweep list in `mlflow ui`
    answers "which cell won" without opening every child."""
    timed = [r for r in results if r.ok and "rtf" in r.metrics]
    if not timed:
        return
    best = min(timed, key=lambda r: r.metrics["rtf"])
    client.log_metric(run_id, "sweep.best_rtf", best.metrics["rtf"])
    client.log_metric(run_id, "sweep.median_rtf",
                      statistics.median(r.metrics["rtf"] for r in timed))
    client.set_tag(run_id, "sweep.best_cell", best.name)
    client.set_tag(run_id, "sweep.best_run_id", best.run_id or "")


def close_interrupted_sweep(error: BaseException | None = None) -> None:
    """End a parent run left open by an interrupted sweep as KILLED (with ``error``, e.g.
    "interrupted by SIGTERM", as its error tag), never RUNNING."""
    run_id = os.environ.pop(PARENT_RUN_ENV, None)
    uri = os.environ.pop(PARENT_URI_ENV, None)
    if run_id is None:
        return
    from avbench.tracking.mlflow_logger import open_client

    client = open_client(uri or None)
    try:
        client.set_tag(run_id, "error", str(error or "the sweep stopped before its end"))
    finally:
        client.set_terminated(run_id, status="KILLED")
