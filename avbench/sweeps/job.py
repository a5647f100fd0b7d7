"""The sweep side of one job, in whatever process the launcher runs it: the cell's
identity in the store (cell key), its placement, resume and retries.

The launching process hands the job its sweep through ``hydra.job.env_set`` (see
sweeps/callbacks.py), which every launcher forwards inside the job's config.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from avbench.journal import RunResult
from avbench.sweeps.placement import GpuOversubscribed, placed
from avbench.tracking.logger import PARENT_RUN_ENV, resolve_tracking_uri
from avbench.version import __version__

SWEEP_NAME_ENV = "AVBENCH_SWEEP_NAME"
SWEEP_PARALLEL_ENV = "AVBENCH_SWEEP_PARALLEL"
SWEEP_AXES_ENV = "AVBENCH_SWEEP_AXES"  # the swept keys and their values (base64 JSON)
# Keys that say where a run is stored or how the sweep runs, not what it measures.
NOT_THE_CELL = ("paths", "tracking", "sweep", "run_name")


def _measured(cfg: DictConfig) -> Any:
    kept = [key for key in cfg if key not in NOT_THE_CELL]
    return OmegaConf.to_container(OmegaConf.masked_copy(cfg, kept), resolve=True)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()
                          ).hexdigest()[:16]


def config_digest(cfg: DictConfig) -> str:
    """Hash of the cell's resolved config (what it measures), without its hardware."""
    return _digest(_measured(cfg))


def input_files(cfg: DictConfig) -> dict[str, str]:
    """Every file the cell's config names (``audio.path``, ``audio.vocals_path``,
    ``text.path``, a checkpoint, a voice profile...) -> the SHA-256 of its content: a file
    edited between two sweeps makes a new cell key, so resume measures it again."""
    from avbench.backends.cache import file_digest

    found: dict[str, str] = {}

    def walk(node: Any, key: str) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                walk(value, f"{key}.{name}" if key else str(name))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{key}[{index}]")
        elif isinstance(node, str) and node and len(node) < 4096:
            path = Path(node).expanduser()
            with contextlib.suppress(OSError):
                if path.is_file():
                    found[key] = file_digest(path)

    walk(_measured(cfg), "")
    return found


def software_digest(env: dict[str, Any]) -> str:
    """avbench's version and commit, the library versions and the pinned pretrained weights:
    a result measured by other software is stale."""
    from avbench.models.pretrained import WEIGHTS

    return _digest({"avbench": __version__, "git": env.get("git", {}).get("sha"),
                    "versions": env.get("versions"),
                    "weights": sorted(w.sha256 for w in WEIGHTS.values())})


def cell_key(digest: str, hardware_key: str, replica: int, inputs: str = "",
             software: str = "") -> str:
    """The cell's identity for resume: same config, same input files' content, same
    software and weights, same hardware, same replica."""
    return hashlib.sha256(f"{digest}|{inputs}|{software}|{hardware_key}|{replica}".encode()
                          ).hexdigest()[:16]


def encode_axes(axes: dict[str, list[str]]) -> str:
    return base64.urlsafe_b64encode(json.dumps(axes).encode()).decode()


def decode_axes(text: str) -> dict[str, list[str]]:
    return json.loads(base64.urlsafe_b64decode(text.encode())) if text else {}


def short_keys(keys: list[str]) -> dict[str, str]:
    """``+pipeline.hidden`` -> ``hidden``; the whole key (without ``+``/``~``) where two
    swept keys end alike."""
    bare = {key: key.lstrip("+~") for key in keys}
    last = {key: name.replace("/", ".").split(".")[-1] for key, name in bare.items()}
    counts = {name: list(last.values()).count(name) for name in last.values()}
    return {key: last[key] if counts[last[key]] == 1 else bare[key] for key in keys}


def cell_run_name(base: str, overrides: tuple[str, ...], axes: dict[str, list[str]],
                  num: int) -> str:
    """The task's run name with every swept value it does not already say
    (``calibration-fp32-pytorch-1s-hidden=16``), and the job number when an axis
    repeats a value: names are unique within a sweep."""
    given = dict(o.split("=", 1) for o in overrides if "=" in o)
    parts = base.split("-")
    extra = [f"{short}={given[key]}" for key, short in short_keys(list(axes)).items()
             if key in given and given[key] not in parts]
    if any(len(set(values)) < len(values) for values in axes.values()):
        extra.append(f"#{num}")
    return "-".join([base, *extra])


@dataclass(frozen=True)
class SweepJob:
    parent_run_id: str
    name: str
    parallel: int
    num: int
    overrides: tuple[str, ...]
    axes: dict[str, list[str]] = field(default_factory=dict)

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
                   tuple(hydra_cfg.overrides.task),
                   decode_axes(os.environ.get(SWEEP_AXES_ENV, "")))

    def tags(self, digest: str, key: str, replica: int) -> dict[str, str]:
        return {"avbench.sweep.name": self.name, "avbench.job_num": str(self.num),
                "avbench.cell": " ".join(self.overrides) or "default",
                "avbench.cell_config": digest, "avbench.cell_key": key,
                "avbench.replica": str(replica)}


def sweep_run_name(base: str) -> str:
    """A run's name: ``base`` alone, in a sweep with every swept value (cell_run_name)."""
    job = SweepJob.current()
    return base if job is None else cell_run_name(base, job.overrides, job.axes, job.num)


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

    digest, env = config_digest(cfg), fingerprint()
    inputs = input_files(cfg)
    key = cell_key(digest, env["hardware_key"], cfg.sweep.replica, _digest(inputs),
                   software_digest(env))
    tags = job.tags(digest, key, cfg.sweep.replica) | placement_tags | {
        "avbench.cell_inputs": ", ".join(f"{k}={v[:12]}" for k, v in inputs.items())
        or "none"}
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
