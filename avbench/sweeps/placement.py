"""Where a cell runs on its machine: a slot, a disjoint set of cores, one GPU.

Parallel cells on shared cores distort each other's timings. Each cell of a parallel
sweep takes a free slot (a file lock per slot, local to the machine, held for the
cell's duration), whatever the launcher's worker; slot i of n gets the i-th of n
disjoint core sets (``os.sched_setaffinity``) and, with GPUs, one GPU
(``CUDA_VISIBLE_DEVICES``). The thread pools follow the affinity (measure/threads.py).

GPUs are named by UUID: CUDA numbers devices fastest first unless
``CUDA_DEVICE_ORDER=PCI_BUS_ID`` and NVML numbers them by PCI bus, so an NVML index
written into ``CUDA_VISIBLE_DEVICES`` can select another GPU; a UUID is the same GPU for
both. More slots than GPUs would put two cells on one GPU, whose timings then distort
each other: that is an error unless ``sweep.share_gpus=true``.
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

from avbench.runtime import ConfigError

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


class GpuOversubscribed(ConfigError):
    """More parallel cells than GPUs on this machine, without ``sweep.share_gpus=true``."""


@contextmanager
def placed(parallel: int, pin: bool, pool: str, job_num: int,
           share_gpus: bool = False) -> Iterator[Placement]:
    """Hold a slot of ``pool`` (one pool per sweep and machine) for the cell's duration."""
    if parallel <= 1:
        yield Placement(0, 1, ORIGINAL_CORES, False, ",".join(gpu_ids()) or None)
        return
    devices = gpu_ids()
    if devices and parallel > len(devices) and not share_gpus:
        raise GpuOversubscribed(
            f"{parallel} cells at once (sweep.parallel or the launcher's) but {len(devices)} "
            f"GPU(s) here: two cells on one GPU distort each other's timings; run at most "
            f"{len(devices)} at once, or set sweep.share_gpus=true to share them")
    directory = Path(tempfile.gettempdir()) / f"avbench-slots-{pool}"
    directory.mkdir(parents=True, exist_ok=True)
    lock, slot = _take_slot(directory, parallel, job_num)
    try:
        cores = cores_for(slot, parallel, ORIGINAL_CORES) if pin else ORIGINAL_CORES
        if pin and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, cores)
        gpu, note = _assign_gpu(slot, devices, parallel)
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


def gpu_ids() -> list[str]:
    """The GPUs cells may be placed on, as ``CUDA_VISIBLE_DEVICES`` entries: the entries of
    the variable this process was started with (the user's own choice and numbering), else
    every GPU's UUID from NVML; none without a driver."""
    if ORIGINAL_VISIBLE_GPUS is not None:
        return [d.strip() for d in ORIGINAL_VISIBLE_GPUS.split(",") if d.strip()]
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no library, no driver: nothing to place
        return []
    try:
        return [_text(pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(index)))
                for index in range(pynvml.nvmlDeviceGetCount())]
    except Exception:
        return []
    finally:
        pynvml.nvmlShutdown()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value  # bytes before nvml 11.5


def _assign_gpu(slot: int, devices: list[str], parallel: int) -> tuple[str | None, str]:
    """One GPU per slot. CUDA reads CUDA_VISIBLE_DEVICES once per process: a worker whose
    CUDA is already up (it ran a cell before) keeps its device, and the tag says so."""
    if not devices:
        return None, ""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return os.environ.get("CUDA_VISIBLE_DEVICES", ",".join(devices)), \
            "kept: CUDA was initialised by an earlier cell of this worker"
    os.environ["CUDA_VISIBLE_DEVICES"] = devices[slot % len(devices)]
    shared = (f"shared: {parallel} cells at once on {len(devices)} GPU(s)"
              if parallel > len(devices) else "")
    return os.environ["CUDA_VISIBLE_DEVICES"], shared
