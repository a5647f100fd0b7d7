"""The run's own output folder: unique per run, named after its MLflow run.

Hydra creates the folder before the run exists, as ``outputs/<date>/<time>-pid<pid>``
(conf/hydra/default.yaml; the pid keeps runs started in the same second apart). Once the
MLflow run is created the folder is renamed ``<time>-<run id>``, and Hydra's record of it
follows, so every file the run writes and logs comes from its own folder. Sweep cells live
under ``multirun/<date>/<time>-<random>/<job number>-<overrides>``: the random part keeps two
sweeps started in the same second apart. A task that runs no benchmark
(report, compare, doctor) leaves no folder holding only Hydra's own files.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import shutil
from pathlib import Path

from omegaconf import OmegaConf, read_write

from avbench.errors import first_line, os_error_in, os_error_line

log = logging.getLogger(__name__)

HYDRA_FILES = {".hydra"}
MAX_CELL_CHARS = 120
ELSEWHERE = "(hydra.run.dir=, hydra.sweep.dir=, paths.cache_dir=)"
DISK_HINTS = {
    errno.ENOSPC: f"free space on that disk, or write elsewhere {ELSEWHERE}",
    errno.EDQUOT: f"free space in your quota, or write elsewhere {ELSEWHERE}",
    errno.EROFS: f"write elsewhere {ELSEWHERE}",
    errno.EACCES: f"make it writable, or write elsewhere {ELSEWHERE}",
    errno.EPERM: f"make it writable, or write elsewhere {ELSEWHERE}",
}
FULL_BELOW_BYTES = 1 << 20  # a disk with less free space is taken as full


_chosen: list[Path] = []  # the single run's folder, as Hydra chose it (before creating it)


def choose(folder: Path) -> None:
    """Remember the single run's folder (Hydra's on_run_start), so that a failure to
    create or write it names it."""
    _chosen[:] = [folder.absolute()]


def chosen() -> Path | None:
    return _chosen[0] if _chosen else None


def pending_key() -> str:
    return f"pid{os.getpid()}"


def sweep_key() -> str:
    """A random suffix for a sweep's folder, drawn once per sweep (the resolver is cached and
    Hydra copies its cache into every job's config): two sweeps started in the same second
    in one directory, on one machine or on two sharing a disk, get folders of their own."""
    return secrets.token_hex(3)


def cell_name(num: object, overrides: object) -> str:
    """``<job number>-<overrides>`` made safe for one path component."""
    safe = re.sub(r"[^\w.,=+-]", "_", str(overrides)) or "default"
    return f"{num}-{safe}"[:MAX_CELL_CHARS]


def register_resolvers() -> None:
    """Resolvers used by conf/hydra/default.yaml (before Hydra composes)."""
    OmegaConf.register_new_resolver("avbench_pending", pending_key, use_cache=True,
                                    replace=True)
    OmegaConf.register_new_resolver("avbench_sweep", sweep_key, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("avbench_cell", cell_name, replace=True)


def name_after_run(out_dir: Path, run_id: str | None) -> Path:
    """Rename a single run's ``<time>-pid<pid>`` folder to ``<time>-<run id>``; returns the
    folder the run writes to (unchanged in a sweep, without a run id, or on failure)."""
    suffix = f"-{pending_key()}"
    if run_id is None or not out_dir.name.endswith(suffix) or not out_dir.is_dir():
        return out_dir
    target = out_dir.with_name(out_dir.name.removesuffix(suffix) + f"-{run_id}")
    try:
        out_dir.rename(target)
    except OSError as error:
        log.warning("run folder %s kept its name (%s)", out_dir, error)
        return out_dir
    _follow_in_hydra(out_dir, target)
    return target


def _follow_in_hydra(old: Path, new: Path) -> None:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    runtime = HydraConfig.get().runtime
    if Path(runtime.output_dir) == old:
        with read_write(runtime):
            runtime.output_dir = str(new)


def remove_if_unused(out_dir: Path, log_file: Path | None) -> None:
    """Remove a run folder that holds only Hydra's files and the job log, and the
    folders above it that are left empty."""
    if not out_dir.is_dir():
        return
    ours = HYDRA_FILES | ({log_file.name} if log_file is not None else set())
    if any(entry.name not in ours for entry in out_dir.iterdir()):
        return
    shutil.rmtree(out_dir, ignore_errors=True)
    with contextlib.suppress(OSError):  # outputs/<date> and outputs/, when left empty
        out_dir.parent.rmdir()
        out_dir.parent.parent.rmdir()


def disk_failure(error: BaseException, folder: Path | None = None) -> str | None:
    """One line for a failure of the disk (full, read-only, no permission): the path (the
    error's own, else ``folder``) and the cause with its errno, and what to do; None for
    any other error. A library that
    reports a write failure without its errno (libsndfile's "System error.") is read as a
    full disk when ``folder``'s disk is full."""
    found = os_error_in(error)
    if found is not None and found.errno in DISK_HINTS:
        return f"{os_error_line(found, folder)}; {DISK_HINTS[found.errno]}"
    no_errno = type(error).__module__ == "soundfile" or (
        isinstance(error, OSError) and error.errno is None)
    if folder is not None and found is None and no_errno and _full(folder):
        return (f"{folder}: No space left on device (ENOSPC: {first_line(error)}); "
                f"{DISK_HINTS[errno.ENOSPC]}")
    return None


def _full(folder: Path) -> bool:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        return shutil.disk_usage(existing).free < FULL_BELOW_BYTES
    except OSError:
        return False
