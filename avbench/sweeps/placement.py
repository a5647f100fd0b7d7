"""Where a cell runs on its machine: a slot, a disjoint set of cores, one GPU.

Parallel cells on shared cores distort each other's timings. Each cell of a parallel
sweep takes a free slot (a file lock per slot, local to the machine, held for the
cell's duration), whatever the launcher's worker; slot i of n gets the i-th of n
disjoint core sets (``os.sched_setaffinity``) and, with GPUs, one GPU
(``CUDA_VISIBLE_DEVICES``). The thread pools follow the affinity (measure/threads.py).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

# The cores this process was given before any cell pinned it (a reused worker keeps them).
ORIGINAL_CORES = (sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                  else list(range(os.cpu_count() or 1)))
ORIGINAL_VISIBLE_GPUS = os.environ.get("CUDA_VISIBLE_DEVICES")


@dataclass(frozen=True)
class Placement:
    slot: int
    parallel: int
    cores: list[int]
    pinned: bool
    gpu: str | None  # the CUDA_VISIBLE_DEVICES of this cell, when the machine has GPUs
    gpu_note: str = ""

    def tags(self) -> dict[str, str]:
        tags = {"bench.concurrent_cells": str(self.parallel), "bench.slot": str(self.slot),
                "bench.pinned": str(self.pinned).lower(),
                "bench.cpu_affinity": format_cores(self.cores)}
        if self.gpu is not None:
            tags["gpu.visible_devices"] = self.gpu
        if self.gpu_note:
            tags["gpu.placement"] = self.gpu_note
        return tags


def format_cores(cores: list[int]) -> str:
    return ",".join(str(c) for c in sorted(cores))


def parse_cores(text: str) -> set[int]:
    return {int(c) for c in text.split(",") if c.strip()}


def cores_for(slot: int, parallel: int, cores: list[int]) -> list[int]:
    """The slot's share: disjoint when there are at least as many cores as slots."""
    if parallel > len(cores):
        return [cores[slot % len(cores)]]
    share = len(cores) // parallel
    return cores[slot * share:(slot + 1) * share]


@contextmanager
def placed(parallel: int, pin: bool, pool: str, job_num: int) -> Iterator[Placement]:
    """Hold a slot of ``pool`` (one pool per sweep and machine) for the cell's duration."""
    if parallel <= 1:
        yield Placement(0, 1, ORIGINAL_CORES, False, ",".join(_gpu_indices()) or None)
        return
    directory = Path(tempfile.gettempdir()) / f"avbench-slots-{pool}"
    directory.mkdir(parents=True, exist_ok=True)
    lock, slot = _take_slot(directory, parallel, job_num)
    try:
        cores = cores_for(slot, parallel, ORIGINAL_CORES) if pin else ORIGINAL_CORES
        if pin and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, cores)
        gpu, note = _assign_gpu(slot)
        yield Placement(slot, parallel, cores, pin, gpu, note)
    finally:
        if pin and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, ORIGINAL_CORES)
        lock.release()


def _take_slot(directory: Path, parallel: int, job_num: int) -> tuple[FileLock, int]:
    """A free slot if there is one, else wait for the job's own slot."""
    for slot in range(parallel):
        lock = FileLock(directory / f"slot-{slot}.lock")
        with suppress(Timeout):
            lock.acquire(timeout=0)
            return lock, slot
    slot = job_num % parallel
    lock = FileLock(directory / f"slot-{slot}.lock")
    lock.acquire()
    return lock, slot


def _gpu_indices() -> list[str]:
    visible = ORIGINAL_VISIBLE_GPUS
    if visible is not None:
        return [d for d in visible.split(",") if d.strip()]
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return [str(i) for i in range(pynvml.nvmlDeviceGetCount())]
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no driver, no GPU: nothing to place
        return []


def _assign_gpu(slot: int) -> tuple[str | None, str]:
    """One GPU per slot. CUDA reads CUDA_VISIBLE_DEVICES once per process: a worker whose
    CUDA is already up (it ran a cell before) keeps its device, and the tag says so."""
    devices = _gpu_indices()
    if not devices:
        return None, ""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return os.environ.get("CUDA_VISIBLE_DEVICES", ",".join(devices)), \
            "kept: CUDA was initialised by an earlier cell of this worker"
    os.environ["CUDA_VISIBLE_DEVICES"] = devices[slot % len(devices)]
    return os.environ["CUDA_VISIBLE_DEVICES"], ""
