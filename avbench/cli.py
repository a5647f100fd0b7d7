"""`python -m avbench` / `avbench`: compose with Hydra, run the task, exit with its status.

Whatever stops the command, the console gets one line saying what happened: a signal and
what it ended (``avbench: interrupted by SIGTERM: the run <id> was ended KILLED``), or
``avbench: error: ...`` for a failure outside any run (a run folder on a read-only or
full disk, a launcher whose worker died). Hydra is asked to raise its errors
(``HYDRA_FULL_ERROR=1``, unless the environment sets it) so that they reach this module:
its configuration errors are printed as Hydra prints them, without a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from omegaconf import DictConfig, OmegaConf

from avbench.config import register_configs

if TYPE_CHECKING:
    from avbench.journal import RunResult
    from avbench.sweeps.callbacks import SweepEnd

register_configs()


def _task_list() -> str:
    from avbench.tasks import task_list

    return task_list()


# --help's task list (conf/hydra/help/avbench.yaml) is the TASKS registry's.
OmegaConf.register_new_resolver("avbench_tasks", _task_list, replace=True)


def config_path() -> str:
    """The Hydra config tree: conf/ of a source checkout (clone or editable install), else
    the copy installed with the wheel as the package avbench.conf."""
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").is_file() and (repo / "conf" / "config.yaml").is_file():
        return str(repo / "conf")
    return "pkg://avbench.conf"


@hydra.main(version_base="1.3", config_path=config_path(), config_name="config")
def _entry(cfg: DictConfig) -> float | None:
    from avbench import runner

    result = runner.run(cfg)
    # A sweeper that optimises gets the real-time factor (lower is better).
    return result.metrics.get("rtf")


def main() -> None:
    from avbench.measure.openmp import bound_idle_spin

    bound_idle_spin()  # before the first `import torch` (sweeps.callbacks imports it)
    from avbench import interrupt, journal
    from avbench.sweeps.callbacks import close_interrupted_sweep

    interrupt.install()
    # A log file on a full disk is not worth a traceback per record on the console.
    logging.raiseExceptions = False
    wants_traceback = bool(os.environ.get("HYDRA_FULL_ERROR"))
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises its errors here, printed below
    try:
        _entry()
    except (interrupt.Interrupted, KeyboardInterrupt) as error:
        from avbench.tracking.connection import failing_fast

        interrupt.acknowledge()
        stop = interrupt.as_interrupted(error)
        with failing_fast():  # closing must not wait on a tracking server's retries
            end = close_interrupted_sweep(stop)
        print(f"avbench: {stop}{_what_was_ended(end, journal.JOURNAL)}", file=sys.stderr)
        sys.exit(stop.exit_code)
    except SystemExit as error:
        close_interrupted_sweep(error)
        raise
    except Exception as error:
        end = close_interrupted_sweep(error)
        if wants_traceback:
            raise
        print(f"avbench: error: {_error_line(error, end)}", file=sys.stderr)
        sys.exit(1)
    close_interrupted_sweep()  # a no-op when the sweep ended normally
    sys.exit(journal.exit_code())


def _what_was_ended(end: SweepEnd | None, results: list[RunResult]) -> str:
    """What a signal ended: the sweep and its cells in progress, the run, or nothing."""
    from avbench.journal import KILLED

    if end is not None and not end.tracked:
        return f": the sweep {end.name} stopped (tracking=none: no run to end)"
    if end is not None:
        cells = end.killed_cells
        return (f": the sweep {end.name} was ended KILLED"
                + (f", and its {cells} cell(s) in progress" if cells else
                   " (no cell was in progress)"))
    killed = [r for r in results if r.status == KILLED]
    if not killed:
        return " before a run started"
    tracked = [r.run_id for r in killed if r.run_id]
    if tracked:
        return f": the run {', '.join(tracked)} was ended KILLED"
    return f": {killed[-1].name} stopped"


def _error_line(error: Exception, end: SweepEnd | None) -> str:
    """One line for an error outside any run (Hydra's configuration errors as Hydra says
    them; a sweep's launcher failure; a disk failure with its path and errno)."""
    from hydra.errors import CompactHydraException
    from omegaconf.errors import OmegaConfBaseException

    from avbench.errors import first_line
    from avbench.install_hints import missing_plugin
    from avbench.run_dir import chosen, disk_failure
    from avbench.sweeps.callbacks import launcher_failure

    if isinstance(error, (CompactHydraException, OmegaConfBaseException)):
        hint = missing_plugin(error)  # a launcher or sweeper not installed: what to install
        if hint:
            return hint
        cause = error.__cause__
        return str(error) + (f"\n{cause}" if isinstance(cause, OmegaConfBaseException)
                             else "")
    if end is not None:
        cause = end.cause or launcher_failure(error)
        return (f"the sweep stopped early: {cause}" if end.reported
                else f"{cause}; none of the sweep's cells ran")
    return disk_failure(error, chosen()) or (
        f"{type(error).__name__}: {first_line(error)} (set HYDRA_FULL_ERROR=1 for the "
        "traceback)")
