"""The job runner: every job (a single run or a sweep cell) goes through ``run``, which
never raises out except on a signal.

A failure is logged as a FAILED run with its error and recorded in the journal, so a sweep
goes on and the process exits non-zero at the end. A ``UserError`` is one line on the
console; anything else is a crash, with its traceback in the run's log file.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from avbench import journal
from avbench.errors import UserError, first_line
from avbench.journal import FAILED, FINISHED, KILLED, RunResult
from avbench.params import settings_params, settings_tags
from avbench.tasks import task_module
from avbench.tracking import keys

log = logging.getLogger(__name__)


def hydra_runtime() -> dict[str, Any]:
    """Group choices, overrides and output dir of the current Hydra job (empty outside one)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return {"choices": {}, "overrides": [], "output_dir": None, "log_file": None}
    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    return {
        "choices": {k: v for k, v in hydra_cfg.runtime.choices.items()
                    if v is not None and not k.startswith("hydra")},
        "overrides": list(hydra_cfg.overrides.task),
        "output_dir": output_dir,
        "log_file": output_dir / f"{hydra_cfg.job.name}.log",
    }


def run(cfg: DictConfig) -> RunResult:
    """Run the configured task as one tracked job (in a sweep: a placed, resumable cell)."""
    import os

    from avbench.interrupt import Interrupted, as_interrupted, handled
    from avbench.sweeps.job import run_cell
    from avbench.tracking.logger import PARENT_RUN_ENV

    in_worker = PARENT_RUN_ENV in os.environ  # a sweep's job, maybe in a launcher's worker
    with handled() if in_worker else nullcontext(False) as own_handler:
        try:
            return journal.record(run_cell(
                cfg, lambda cell_tags, refused=None: _attempt(cfg, cell_tags, refused)))
        except (Interrupted, KeyboardInterrupt) as error:
            if not own_handler:
                raise
            # A launcher's worker: the signal ended this job's run KILLED (or came before
            # it opened); the worker reports the job, the sweep reads the cell from the store.
            return RunResult("job", KILLED, error=str(as_interrupted(error)))


def _attempt(cfg: DictConfig, cell_tags: dict[str, str],
             refused: Exception | None = None) -> RunResult:
    """One attempt at the job. Errors (and ``refused``: why the cell cannot run here) end it
    FAILED (a crash is ``result.crashed``); SIGTERM / SIGINT (avbench.interrupt) end it KILLED
    with the signal as its error, then propagate so that the sweep stops too."""
    from avbench.interrupt import Interrupted, acknowledge, as_interrupted
    from avbench.run_dir import remove_if_unused
    from avbench.sweeps.job import sweep_run_name
    from avbench.tracking import NullLogger, make_logger
    from avbench.tracking.connection import TrackingError, failing_fast

    hydra = hydra_runtime()
    task = task_module(cfg.task.name)
    name = sweep_run_name(task.run_name(cfg))  # in a sweep: with every swept value
    tracked = getattr(task, "TRACKED", True)
    job = _Job(Path(cfg.paths.output_dir), hydra["log_file"])
    result = RunResult(name=name, status=FAILED, overrides=hydra["overrides"])
    logger, quick = None, False
    try:
        logger = TagRecorder(make_logger(cfg.tracking) if tracked else NullLogger(),
                             result.tags, cfg.get("tags") or {})
        _start(cfg, task, logger, (hydra["choices"], cell_tags), result, job, refused)
        result.metrics = task.execute(cfg, logger, job.out_dir, name)
        result.status = FINISHED
    except UserError as error:
        result.error = first_line(error)
        result.exit_code = getattr(error, "exit_code", None)
        print(f"avbench: error: {result.error}", file=sys.stderr)
        quick = isinstance(error, TrackingError)  # ending must not wait on the store
    except Exception as error:
        _failed(error, result, job)
    except (Interrupted, KeyboardInterrupt) as error:
        acknowledge()
        quick = True
        result.status = KILLED
        result.error = str(as_interrupted(error))
        if logger is not None and (result.run_id or not tracked or not cfg.tracking.enabled):
            journal.record(result)  # what the signal stopped (none: it came before the run)
        raise
    finally:
        with failing_fast() if quick else nullcontext():
            _close(logger, result, job.log_file)
        if not tracked or (result.run_id is None and not result.crashed):
            remove_if_unused(job.out_dir, job.log_file)  # nothing of the run's own in it
    return result


class _Job:
    """Where the job writes: its folder (renamed after its run) and its log file."""

    def __init__(self, out_dir: Path, log_file: Path | None) -> None:
        self.out_dir = out_dir
        self.log_file = log_file

    def moved_to(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        if self.log_file is not None:
            self.log_file = out_dir / self.log_file.name


def _start(cfg: DictConfig, task: Any, logger: TagRecorder,
           tags: tuple[dict[str, str], dict[str, str]], result: RunResult, job: _Job,
           refused: Exception | None = None) -> None:
    """Open the job's run (its folder named after it, params), check its config, and log
    its run files. ``tags``: the group choices, and the sweep cell's tags; ``refused``: why
    the cell cannot run here (raised once its run is open, so it ends FAILED)."""
    from avbench.measure.env import fingerprint
    from avbench.phases.artifacts import write_run_files
    from avbench.run_dir import name_after_run
    from avbench.tracking.liveness import process_tags
    from avbench.validation import input_params, validate

    choices, cell_tags = tags
    env = fingerprint()
    logger.start(result.name, tags=_run_tags(cfg, env, choices) | process_tags() | cell_tags)
    result.run_id = logger.run_id
    job.moved_to(name_after_run(job.out_dir, logger.run_id))
    logger.log_params(input_params(cfg, settings_params(cfg, getattr(task, "TASK_OPTIONS",
                                                                     None))))
    logger.set_tags(settings_tags(cfg, str(job.out_dir)))
    if refused is not None:
        raise refused
    validate(cfg)
    if getattr(task, "TRACKED", True):
        for path in write_run_files(cfg, job.out_dir, env):
            logger.log_artifact(path)


def _failed(error: Exception, result: RunResult, job: _Job) -> None:
    """An error that is not a UserError: a full or read-only disk (one line naming the
    path and the cause), else a crash (its traceback in the run's log file only)."""
    from avbench.run_dir import disk_failure

    line = disk_failure(error, job.out_dir)
    _log_traceback_to_file(f"run {result.name} failed")
    if line is not None:
        result.error = line
        print(f"avbench: error: {line}", file=sys.stderr)
        return
    result.error = first_line(f"{type(error).__name__}: {error}")
    # A user error raised inside Hydra's instantiate arrives wrapped: not a crash.
    result.crashed = not isinstance(error.__cause__, UserError)
    print(f"avbench: error: {result.error} (traceback in {job.log_file})", file=sys.stderr)


def _log_traceback_to_file(message: str) -> None:
    """The current exception's traceback, to the run's log file only (Hydra's file
    handler): the console gets one line, the log artifact the detail."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, None,
                            sys.exc_info())
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


class TagRecorder:
    """The job's run logger: every name it writes is checked against the registry
    (avbench.tracking.keys: a warning per unregistered name), and the tags set on it are
    kept (for the sweep's end table). ``user_tags``: the ``tags.<name>=`` the user gave,
    names of their own."""

    def __init__(self, logger: Any, tags: dict[str, str],
                 user_tags: Iterable[str] = ()) -> None:
        self._logger = logger
        self.tags = tags
        self._user_tags = frozenset(user_tags)

    def start(self, run_name: str, tags: Mapping[str, str]) -> None:
        keys.check("tag", set(tags) - self._user_tags)
        self.tags.update({str(k): str(v) for k, v in tags.items()})
        self._logger.start(run_name, tags)

    def log_params(self, params: Mapping[str, Any]) -> None:
        keys.check("param", params)
        self._logger.log_params(params)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        keys.check("metric", metrics)
        self._logger.log_metrics(metrics, step)

    def log_series(self, name: str, values: list[float]) -> None:
        keys.check("series", [name])
        self._logger.log_series(name, values)

    def set_tags(self, tags: Any) -> None:
        keys.check("tag", set(tags) - self._user_tags)
        self.tags.update({str(k): str(v) for k, v in tags.items()})
        self._logger.set_tags(tags)

    def child(self, run_name: str, tags: Mapping[str, str]) -> TagRecorder:
        keys.check("tag", tags)
        return TagRecorder(self._logger.child(run_name, tags), {}, self._user_tags)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)


def _close(logger: Any, result: RunResult, log_file: Path | None) -> None:
    """End the run with its status and error first (never left RUNNING), then log the run
    log; a failure of one step does not stop the other."""
    if logger is None:
        return
    try:
        logger.end(result.status, result.error)
    except Exception as error:
        log.warning("could not end the tracking run %s: %s", result.run_id, first_line(error))
    try:
        if log_file is not None and log_file.exists():
            logger.log_artifact(log_file)
    except Exception as error:
        log.warning("could not log the run log %s: %s", log_file, first_line(error))


def _run_tags(cfg: DictConfig, env: dict[str, Any], choices: dict[str, str]) -> dict[str, str]:
    tags = {f"choice.{group}": str(option) for group, option in choices.items()}
    versions = {f"version.{k}": str(v) for k, v in env["versions"].items() if v}
    tags |= versions | {
        "avbench.task": cfg.task.name,
        "hardware.key": env["hardware_key"],
        "hardware.cpu_model": env["cpu_model"],
        "hardware.cpu_cores": str(env["cpu_cores_logical"]),
        "hardware.gpu_name": env["gpu_name"] or "none",
        "cuda.version": str(env["cuda_version"]),
        "git.sha": str(env["git"]["sha"]),
        "git.dirty": str(env["git"]["dirty"]).lower(),
        "backend.requested": cfg.backend.name,
        "precision": cfg.precision.name,
    }
    return tags | {str(k): str(v) for k, v in cfg.tags.items()}
