"""The sweep side of one job, in whatever process the launcher runs it: the cell's
identity in the store (cell key), its placement, resume and retries.

The launching process hands the job its sweep through ``hydra.job.env_set`` (see
sweeps/callbacks.py), which every launcher forwards inside the job's config.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from avbench.journal import RunResult
from avbench.sweeps.placement import GpuOversubscribed, placed
from avbench.tracking.logger import PARENT_RUN_ENV, resolve_tracking_uri

SWEEP_NAME_ENV = "AVBENCH_SWEEP_NAME"
SWEEP_PARALLEL_ENV = "AVBENCH_SWEEP_PARALLEL"
# Keys that say where a run is stored or how the sweep runs, not what it measures.
NOT_THE_CELL = ("paths", "tracking", "sweep", "run_name")


def config_digest(cfg: DictConfig) -> str:
    """Hash of the cell's resolved config (what it measures), without its hardware."""
    kept = [key for key in cfg if key not in NOT_THE_CELL]
    resolved = OmegaConf.to_container(OmegaConf.masked_copy(cfg, kept), resolve=True)
    return hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()
                          ).hexdigest()[:16]


def cell_key(digest: str, hardware_key: str, replica: int) -> str:
    """The cell's identity for resume: same config, same hardware, same replica."""
    return hashlib.sha256(f"{digest}|{hardware_key}|{replica}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SweepJob:
    parent_run_id: str
    name: str
    parallel: int
    num: int
    overrides: tuple[str, ...]

    @classmethod
    def current(cls) -> SweepJob | None:
        """The job's sweep, or None for a single run."""
        from hydra.core.hydra_config import HydraConfig

        parent = os.environ.get(PARENT_RUN_ENV)
        if not parent or not HydraConfig.initialized():
            return None
        hydra_cfg = HydraConfig.get()
        return cls(parent, os.environ.get(SWEEP_NAME_ENV, ""),
                   int(os.environ.get(SWEEP_PARALLEL_ENV, "1")), int(hydra_cfg.job.num),
                   tuple(hydra_cfg.overrides.task))

    def tags(self, digest: str, key: str, replica: int) -> dict[str, str]:
        return {"avbench.sweep.name": self.name, "avbench.job_num": str(self.num),
                "avbench.cell": " ".join(self.overrides) or "default",
                "avbench.cell_config": digest, "avbench.cell_key": key,
                "avbench.replica": str(replica), "avbench.host": socket.gethostname(),
                "avbench.pid": str(os.getpid())}


Attempt = Callable[..., RunResult]  # (cell_tags, refused: Exception | None = None)


def run_cell(cfg: DictConfig, attempt: Attempt) -> RunResult:
    """Run one job: alone, or as a placed sweep cell with resume and retries. A cell that
    cannot be placed (more cells at once than GPUs) is an attempt that fails with why."""
    job = SweepJob.current()
    if job is None:
        return attempt({})
    try:
        with placed(job.parallel, cfg.sweep.pin, job.parent_run_id, job.num,
                    cfg.sweep.share_gpus) as placement:
            return _placed_cell(cfg, job, placement.tags(), attempt)
    except GpuOversubscribed as error:
        return attempt(job.tags(config_digest(cfg), "", cfg.sweep.replica), error)


def _placed_cell(cfg: DictConfig, job: SweepJob, placement_tags: dict[str, str],
                 attempt: Attempt) -> RunResult:
    from avbench.measure.env import fingerprint

    digest = config_digest(cfg)
    key = cell_key(digest, fingerprint()["hardware_key"], cfg.sweep.replica)
    tags = job.tags(digest, key, cfg.sweep.replica) | placement_tags
    if cfg.sweep.resume and cfg.tracking.enabled:
        from avbench.sweeps.store import reuse_finished

        reused = reuse_finished(resolve_tracking_uri(cfg.tracking.uri),
                                cfg.tracking.experiment, job.parent_run_id, tags)
        if reused is not None:
            return reused
    result = attempt(tags | {"avbench.attempt": "0"})
    for number in range(1, cfg.sweep.retries + 1):
        if result.ok or not result.crashed:
            break
        result = attempt(tags | {"avbench.attempt": str(number)})
    return result
