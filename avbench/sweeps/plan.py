"""The cells of a sweep, enumerated and validated in the launching process before any job.

Every Hydra launcher (basic, joblib, Ray, submitit) runs the jobs the basic sweeper
lists; listing them here too gives the sweep its expected cells, so a cell that never
reports (its worker died) is counted lost rather than forgotten.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


class SweepPlanError(ValueError):
    """A sweep that cannot start: an invalid cell or an unsupported sweeper."""


@dataclass(frozen=True)
class Cell:
    """One job of the sweep: its Hydra job number and its overrides."""

    num: int
    overrides: tuple[str, ...]

    @property
    def label(self) -> str:
        return " ".join(self.overrides) or "default"


@dataclass(frozen=True)
class SweepPlan:
    cells: list[Cell]
    axes: dict[str, list[str]]  # swept key -> its values, in command-line order
    parallel: int  # cells that run at the same time on one machine
    launcher: str  # basic | joblib | ray | submitit_local | submitit_slurm | <target>


def plan_sweep(config: DictConfig) -> SweepPlan:
    """The sweep's cells, each composed once so an invalid one is named before any run."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    target = str(config.hydra.sweeper.get("_target_", ""))
    if target != BASIC_SWEEPER:
        raise SweepPlanError(f"avbench sweeps need Hydra's basic sweeper, not {target!r} "
                             "(drop the hydra/sweeper override)")
    loader = GlobalHydra.instance().config_loader()
    params = config.hydra.sweeper.get("params") or {}
    arguments = [f"{key}={value}" for key, value in params.items()]
    arguments += list(config.hydra.overrides.task)
    overrides = OverridesParser.create(config_loader=loader).parse_overrides(arguments)
    jobs = BasicSweeper.split_arguments(overrides, None)[0]
    cells = [Cell(num, tuple(job)) for num, job in enumerate(jobs)]
    for cell in cells:
        try:
            loader.load_sweep_config(config, list(cell.overrides))
        except Exception as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise SweepPlanError(f"sweep cell #{cell.num} ({cell.label}) is invalid: {first}; "
                                 "no cell was run (fix or drop that value)") from None
    axes = {o.get_key_element(): [str(v) for v in o.sweep_string_iterator()]
            for o in overrides if o.is_sweep_override() and o.is_discrete_sweep()}
    launcher = launcher_name(config)
    return SweepPlan(cells, axes, parallel_cells(config, launcher, len(cells)), launcher)


def launcher_name(config: DictConfig) -> str:
    target = str(config.hydra.launcher.get("_target_", ""))
    for marker, name in (("BasicLauncher", "basic"), ("JoblibLauncher", "joblib"),
                         ("RayLauncher", "ray"), ("LocalLauncher", "submitit_local"),
                         ("SlurmLauncher", "submitit_slurm")):
        if marker in target:
            return name
    return target


def parallel_cells(config: DictConfig, launcher: str, cells: int) -> int:
    """How many cells run at the same time on one machine (sweep.parallel wins)."""
    configured = config.sweep.parallel
    if configured:
        return max(1, min(int(configured), cells))
    launcher_cfg: Any = OmegaConf.to_container(config.hydra.launcher, resolve=True)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    if launcher == "joblib":
        n_jobs = int(launcher_cfg.get("n_jobs") or 1)
        workers = n_jobs if n_jobs > 0 else max(1, cpus + 1 + n_jobs)  # joblib: -1 = all
    elif launcher == "ray":
        init, remote = launcher_cfg["ray"]["init"], launcher_cfg["ray"]["remote"]
        if init.get("address"):  # an existing cluster: its machines are not ours to count
            return 1
        workers = int(init.get("num_cpus") or cpus) // max(1, int(remote.get("num_cpus") or 1))
    elif launcher == "submitit_local":
        workers = int(launcher_cfg.get("array_parallelism") or cells)
    else:  # basic runs one job at a time; a SLURM job has a machine slice of its own
        workers = 1
    return max(1, min(workers, cells))
