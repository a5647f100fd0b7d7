"""The job runner: every job (a single run or a sweep cell) goes through ``run``, which
never raises out except on a signal.

A failure is logged as a FAILED run with its error and recorded in the journal, so a sweep
goes on and the process exits non-zero at the end. A ``UserError`` is one line on the
console; anything else is a crash, with its traceback in the run's log file.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from avbench import journal
from avbench.errors import UserError, first_line
from avbench.journal import FAILED, FINISHED, KILLED, RunResult
from avbench.params import settings_params
from avbench.tasks import task_module

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
    from avbench.sweeps.job import run_cell

    return journal.record(run_cell(cfg, lambda cell_tags: _attempt(cfg, cell_tags)))


def _attempt(cfg: DictConfig, cell_tags: dict[str, str]) -> RunResult:
    """One attempt at the job. Errors end it FAILED (a crash is ``result.crashed``);
    SIGTERM / SIGINT (avbench.interrupt) end it KILLED with the signal as its error, then
    propagate so that the sweep stops too."""
    from avbench.interrupt import Interrupted, acknowledge, as_interrupted
    from avbench.measure.env import fingerprint
    from avbench.phases.artifacts import write_run_files
    from avbench.run_dir import name_after_run, remove_if_unused
    from avbench.sweeps.job import sweep_run_name
    from avbench.tracking import NullLogger, make_logger
    from avbench.tracking.liveness import process_tags
    from avbench.validation import validate

    hydra = hydra_runtime()
    task = task_module(cfg.task.name)
    name = sweep_run_name(task.run_name(cfg))  # in a sweep: with every swept value
    tracked = getattr(task, "TRACKED", True)
    out_dir = Path(cfg.paths.output_dir)
    log_file = hydra["log_file"]
    result = RunResult(name=name, status=FAILED, overrides=hydra["overrides"])
    logger = None
    try:
        logger = TagRecorder(make_logger(cfg.tracking) if tracked else NullLogger(),
                             result.tags)
        env = fingerprint()
        logger.start(name, tags=_run_tags(cfg, env, hydra["choices"]) | process_tags()
                     | cell_tags)
        result.run_id = logger.run_id
        out_dir = name_after_run(out_dir, logger.run_id)
        log_file = out_dir / log_file.name if log_file is not None else None
        logger.log_params(settings_params(cfg, getattr(task, "TASK_OPTIONS", None)))
        validate(cfg)
        if tracked:
            for path in write_run_files(cfg, out_dir, env):
                logger.log_artifact(path)
        result.metrics = task.execute(cfg, logger, out_dir, name)
        result.status = FINISHED
    except UserError as error:
        result.error = first_line(error)
        result.exit_code = getattr(error, "exit_code", None)
        print(f"avbench: error: {result.error}", file=sys.stderr)
    except Exception as error:
        result.error = first_line(f"{type(error).__name__}: {error}")
        # A user error raised inside Hydra's instantiate arrives wrapped: not a crash.
        result.crashed = not isinstance(error.__cause__, UserError)
        _log_traceback_to_file(f"run {name} failed")
        print(f"avbench: error: {result.error} (traceback in {log_file})", file=sys.stderr)
    except (Interrupted, KeyboardInterrupt) as error:
        acknowledge()
        result.status = KILLED
        result.error = str(as_interrupted(error))
        journal.record(result)
        raise
    finally:
        _close(logger, result, log_file)
        if not tracked:
            remove_if_unused(out_dir, log_file)
    return result


def _log_traceback_to_file(message: str) -> None:
    """The current exception's traceback, to the run's log file only (Hydra's file
    handler): the console gets one line, the log artifact the detail."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, None,
                            sys.exc_info())
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


class TagRecorder:
    """A run logger that also keeps the tags set on it (for the sweep's end table)."""

    def __init__(self, logger: Any, tags: dict[str, str]) -> None:
        self._logger = logger
        self.tags = tags

    def set_tags(self, tags: Any) -> None:
        self.tags.update({str(k): str(v) for k, v in tags.items()})
        self._logger.set_tags(tags)

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
