"""Hydra callback: one MLflow parent run per sweep, opened before any job starts, and the
sweep's outcome read back from the store when it ends (docs/sweeps.md).

Opening the store here also runs its migrations once, before the jobs: a fresh SQLite
store migrated by several jobs at once fails otherwise. The jobs learn their sweep from
``hydra.job.env_set`` entries added to the sweep's Hydra overrides, which every launcher
puts into each job's config (basic and joblib locally, Ray and submitit remotely).
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, read_write

from avbench import journal
from avbench.console import print_line, print_sweep_summary
from avbench.interrupt import Interrupted, as_interrupted
from avbench.sweeps.job import SWEEP_AXES_ENV, SWEEP_NAME_ENV, SWEEP_PARALLEL_ENV, encode_axes
from avbench.sweeps.parent import absolute_uri, close_parent, sweep_name
from avbench.sweeps.plan import SweepPlan, SweepPlanError, plan_sweep
from avbench.sweeps.summary import print_best, with_verdicts, write_tables
from avbench.tracking.liveness import end_dead_runs, process_tags
from avbench.tracking.logger import PARENT_RUN_ENV, resolve_tracking_uri


@dataclass
class OpenSweep:
    """A sweep between its start and its end, in the launching process."""

    plan: SweepPlan
    parent_run_id: str
    uri: str | None  # None: MLflow's default store
    sweep_dir: Path
    tracked: bool  # false: tracking=none (the outcome comes from this process's journal)
    started_at: float = field(default_factory=time.perf_counter)


_OPEN: OpenSweep | None = None


class MlflowSweepCallback(Callback):
    """Hydra turns a callback's exception into a warning and goes on: errors here are
    printed and end the process (start) or fail the sweep's exit code (end) instead."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from avbench.tracking.mlflow_logger import TrackingError

        try:
            start_sweep(config)
        except (SweepPlanError, TrackingError) as error:
            print(f"avbench: error: {error}", file=sys.stderr)
            raise SystemExit(2) from None

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            finish_sweep(aborted=None)
        except Exception as error:
            message = f"the sweep's outcome could not be read back: {error}".splitlines()[0]
            print(f"avbench: error: {message}", file=sys.stderr)
            journal.replace([journal.RunResult("sweep", journal.FAILED, error=message)])


def start_sweep(config: DictConfig) -> None:
    global _OPEN
    journal.JOURNAL.clear()
    if config.sweep.resume and not config.sweep.name:
        raise SweepPlanError("sweep.resume=true needs sweep.name=<the name of the sweep to "
                             "resume>")
    if config.sweep.retries < 0:
        raise SweepPlanError(f"sweep.retries must be 0 or more, got {config.sweep.retries}")
    plan = plan_sweep(config)  # an invalid cell stops the sweep here, before any run
    name = sweep_name(config, plan)
    sweep_dir = Path(config.hydra.sweep.dir).resolve()
    env = {SWEEP_NAME_ENV: name, SWEEP_PARALLEL_ENV: str(plan.parallel),
           SWEEP_AXES_ENV: encode_axes(plan.axes)}
    uri = None
    parent_run_id = f"untracked-{uuid.uuid4().hex[:12]}"
    if config.tracking.enabled:
        from avbench.sweeps.store import open_parent
        from avbench.tracking.mlflow_logger import get_or_create_experiment, open_client

        uri = absolute_uri(resolve_tracking_uri(config.tracking.uri))
        client = open_client(uri)
        end_dead_runs(client)  # runs left RUNNING by a killed process (liveness.py)
        experiment_id = get_or_create_experiment(client, config.tracking.experiment)
        parent_run_id = open_parent(client, experiment_id, plan, name, process_tags() | {
            "avbench.sweep.overrides": " ".join(config.hydra.overrides.task),
            "avbench.sweep.dir": str(sweep_dir)})
        if uri:
            env["MLFLOW_TRACKING_URI"] = uri
    env[PARENT_RUN_ENV] = parent_run_id
    forward_to_jobs(config, env)
    _OPEN = OpenSweep(plan, parent_run_id, uri, sweep_dir, bool(config.tracking.enabled))


def forward_to_jobs(config: DictConfig, env: dict[str, str]) -> None:
    """Every launcher composes each job from the sweep's Hydra overrides (load_sweep_config)
    and applies hydra.job.env_set in the job's own process."""
    with read_write(config.hydra.overrides):
        for key, value in env.items():
            quoted = value.replace("\\", "\\\\").replace("'", "\\'")
            config.hydra.overrides.hydra.append(f"++hydra.job.env_set.{key}='{quoted}'")


def finish_sweep(aborted: BaseException | None) -> None:
    """Read the sweep's outcome back (store or journal), print it, close the parent.

    ``aborted``: the launcher stopped with this error (a worker died, Ctrl-C); an interrupt
    ends the parent KILLED, anything else is read back and ends it FAILED."""
    global _OPEN
    sweep, _OPEN = _OPEN, None
    if sweep is None:
        return
    wall_s = time.perf_counter() - sweep.started_at
    if isinstance(aborted, (KeyboardInterrupt, Interrupted)):
        _end_killed(sweep, str(as_interrupted(aborted)))
        return
    results, notes = _outcome(sweep)
    with_verdicts(results)
    if aborted is not None:
        notes.insert(0, f"the launcher stopped early ({type(aborted).__name__}); "
                        "cells that never reported are lost")
    journal.replace(results)
    print_sweep_summary(results, wall_s, sweep.parent_run_id if sweep.tracked else None,
                        sweep.uri, notes)
    print_best(results)
    try:
        tables = write_tables(results, sweep.sweep_dir)
    except OSError as error:  # a sweep dir on a remote machine's disk only
        print_line(f"  could not write the sweep tables to {sweep.sweep_dir}: {error}")
        tables = []
    if sweep.tracked:
        from avbench.tracking.mlflow_logger import open_client

        close_parent(open_client(sweep.uri), sweep.parent_run_id, results, wall_s,
                     notes=notes, artifacts=tables, failed_run=aborted is not None)


def _outcome(sweep: OpenSweep) -> tuple[list[journal.RunResult], list[str]]:
    if not sweep.tracked:  # tracking=none: only jobs of this process can be seen
        seen = {tuple(r.overrides): r for r in journal.JOURNAL}
        return [seen.get(cell.overrides) or journal.RunResult(
            cell.label, journal.LOST, error="no result reached this process (tracking=none "
            "sees only the basic launcher's jobs: use tracking=mlflow)",
            overrides=list(cell.overrides)) for cell in sweep.plan.cells], []
    from avbench.sweeps.store import core_overlaps, read_cells
    from avbench.tracking.mlflow_logger import open_client

    results, children = read_cells(open_client(sweep.uri), sweep.parent_run_id, sweep.plan)
    return results, core_overlaps(children)


def _end_killed(sweep: OpenSweep, reason: str) -> None:
    """An interrupted sweep: the parent ends KILLED with the signal as its error."""
    if not sweep.tracked:
        return
    from avbench.tracking.mlflow_logger import open_client

    client = open_client(sweep.uri)
    try:
        client.set_tag(sweep.parent_run_id, "error", reason)
    finally:
        client.set_terminated(sweep.parent_run_id, status="KILLED")


def close_interrupted_sweep(error: BaseException | None = None) -> None:
    """Called by the command line after Hydra returns: a sweep still open here was stopped
    by its launcher (or an interrupt) before on_multirun_end; never leave it RUNNING."""
    finish_sweep(aborted=error if error is not None else RuntimeError("sweep not finished"))
