"""Hydra callback: one MLflow parent run per sweep, opened before any job starts, and the
sweep's outcome read back from the store when it ends (docs/sweeps.md).

Opening the store here also runs its migrations once, before the jobs: a fresh SQLite
store migrated by several jobs at once fails otherwise. The jobs learn their sweep from
``hydra.job.env_set`` entries added to the sweep's Hydra overrides, which every launcher
puts into each job's config (basic and joblib locally, Ray and submitit remotely).
"""

from __future__ import annotations

import re
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
from avbench.errors import first_line
from avbench.interrupt import Interrupted, as_interrupted
from avbench.run_dir import disk_failure
from avbench.sweeps.job import SWEEP_AXES_ENV, SWEEP_NAME_ENV, SWEEP_PARALLEL_ENV, encode_axes
from avbench.sweeps.parent import absolute_uri, close_parent, sweep_name
from avbench.sweeps.plan import SweepPlan, SweepPlanError, plan_sweep
from avbench.sweeps.summary import print_best, with_verdicts, write_tables
from avbench.tracking.liveness import end_dead_runs, process_tags
from avbench.tracking.logger import PARENT_RUN_ENV, SWEEP_URI_ENV, resolve_tracking_uri


@dataclass
class OpenSweep:
    """A sweep between its start and its end, in the launching process."""

    plan: SweepPlan
    parent_run_id: str
    uri: str | None  # None: MLflow's default store
    sweep_dir: Path
    tracked: bool  # false: tracking=none (the outcome comes from this process's journal)
    name: str = ""
    started_at: float = field(default_factory=time.perf_counter)


@dataclass
class SweepEnd:
    """How a sweep that did not end normally was closed, for the command line's one line."""

    name: str
    killed_cells: int = 0  # a signal: cells in progress ended KILLED (by whichever process)
    cause: str | None = None  # the launcher stopped: why, in one line
    reported: bool = True  # some cell reported a run (else none ran, and no table is shown)
    tracked: bool = True  # false: tracking=none, no run in a store to end


_OPEN: OpenSweep | None = None


class MlflowSweepCallback(Callback):
    """Hydra turns a callback's exception into a warning and goes on: errors here are
    printed and end the process (start) or fail the sweep's exit code (end) instead."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        from avbench.run_dir import choose

        choose(Path(config.hydra.run.dir))  # named by the error if it cannot be written

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
            message = f"the sweep's outcome could not be read back: {first_line(error)}"
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
        if uri:  # the jobs write where the parent did, whatever their working directory
            env |= {SWEEP_URI_ENV: uri, "MLFLOW_TRACKING_URI": uri}
    env[PARENT_RUN_ENV] = parent_run_id
    forward_to_jobs(config, env)
    _OPEN = OpenSweep(plan, parent_run_id, uri, sweep_dir, bool(config.tracking.enabled), name)


def forward_to_jobs(config: DictConfig, env: dict[str, str]) -> None:
    """Every launcher composes each job from the sweep's Hydra overrides (load_sweep_config)
    and applies hydra.job.env_set in the job's own process."""
    with read_write(config.hydra.overrides):
        for key, value in env.items():
            quoted = value.replace("\\", "\\\\").replace("'", "\\'")
            config.hydra.overrides.hydra.append(f"++hydra.job.env_set.{key}='{quoted}'")


def finish_sweep(aborted: BaseException | None) -> SweepEnd | None:
    """Read the sweep's outcome back (store or journal), print it, close the parent.

    ``aborted``: the launcher stopped with this error (a worker died, a disk failed,
    Ctrl-C); an interrupt ends the parent KILLED, anything else is read back and ends it
    FAILED, the cause in one line."""
    global _OPEN
    sweep, _OPEN = _OPEN, None
    if sweep is None:
        return None
    wall_s = time.perf_counter() - sweep.started_at
    if isinstance(aborted, (KeyboardInterrupt, Interrupted)):
        return SweepEnd(sweep.name, _end_killed(sweep, as_interrupted(aborted)),
                        tracked=sweep.tracked)
    cause = launcher_failure(aborted, sweep.sweep_dir) if aborted is not None else None
    results, notes = _outcome(sweep, cause)
    with_verdicts(results)
    if cause is not None:
        notes.insert(0, f"the sweep stopped early: {cause}")
    journal.replace(results)
    end = SweepEnd(sweep.name, cause=cause, reported=any(r.run_id for r in results))
    if end.reported or cause is None:
        print_sweep_summary(results, wall_s, sweep.parent_run_id if sweep.tracked else None,
                            sweep.uri, notes[1:] if cause else notes)
        print_best(results)
    try:
        tables = write_tables(results, sweep.sweep_dir)
    except OSError as error:  # a sweep dir on a remote machine's disk only, or a bad disk
        if end.reported:
            print_line(f"  could not write the sweep tables to {sweep.sweep_dir}: "
                       f"{disk_failure(error) or first_line(error)}")
        tables = []
    if sweep.tracked:
        from avbench.tracking.mlflow_logger import open_client, terminate

        client = open_client(sweep.uri)
        try:
            close_parent(client, sweep.parent_run_id, results, wall_s, notes=notes,
                         artifacts=tables, failed_run=aborted is not None)
        except Exception as error:  # never leave the parent RUNNING (a full disk: reserve)
            terminate(client, sweep.uri, sweep.parent_run_id, "FAILED",
                      f"the sweep's summary could not be written: {first_line(error)}")
            raise
    return end


def launcher_failure(error: BaseException, folder: Path | None = None) -> str:
    """Why a launcher stopped, in one line: a disk that failed (its path, else ``folder``,
    and errno), a worker process that died (with its exit code or signal), or the error."""
    line = disk_failure(error, folder)
    if line is not None:
        return line
    codes = re.search(r"exit codes? of the workers? (?:are|is) (\{[^}]*\})", str(error))
    if type(error).__name__ in ("TerminatedWorkerError", "BrokenProcessPool") or codes:
        return (f"a worker process died ({type(error).__name__}"
                + (f": exit codes {codes.group(1)}" if codes else "") + ")")
    return f"{type(error).__name__}: {first_line(error)}"


def _outcome(sweep: OpenSweep, cause: str | None
             ) -> tuple[list[journal.RunResult], list[str]]:
    if not sweep.tracked:  # tracking=none: only jobs of this process can be seen
        seen = {tuple(r.overrides): r for r in journal.JOURNAL}
        return [seen.get(cell.overrides) or journal.RunResult(
            cell.label, journal.LOST, error=f"not run: {cause}" if cause else (
                "no result reached this process (tracking=none sees only the basic "
                "launcher's jobs: use tracking=mlflow)"),
            overrides=list(cell.overrides)) for cell in sweep.plan.cells], []
    from avbench.sweeps.store import core_overlaps, read_cells
    from avbench.tracking.mlflow_logger import open_client

    results, children = read_cells(open_client(sweep.uri), sweep.parent_run_id, sweep.plan,
                                   cause)
    return results, core_overlaps(children)


def _end_killed(sweep: OpenSweep, stop: Interrupted) -> int:
    """An interrupted sweep: every cell in progress ends KILLED (sweeps/stop.py), then the
    parent, with the signal as their error; returns how many cells it ended."""
    if not sweep.tracked:
        return sum(r.status == journal.KILLED for r in journal.JOURNAL)
    from avbench.sweeps.stop import end_running_children, killed_children
    from avbench.tracking.mlflow_logger import open_client

    client = open_client(sweep.uri)
    try:
        end_running_children(client, sweep.parent_run_id, stop.signum, str(stop))
    finally:
        client.set_tag(sweep.parent_run_id, "error", str(stop))
        client.set_terminated(sweep.parent_run_id, status="KILLED")
    return killed_children(client, sweep.parent_run_id)


def close_interrupted_sweep(error: BaseException | None = None) -> SweepEnd | None:
    """Called by the command line after Hydra returns: a sweep still open here was stopped
    by its launcher (or an interrupt) before on_multirun_end; never leave it RUNNING.
    Returns how it was closed (None: no sweep was open)."""
    return finish_sweep(aborted=error if error is not None else RuntimeError(
        "sweep not finished"))
