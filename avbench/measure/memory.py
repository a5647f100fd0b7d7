"""Peak memory of this run (and of each stage), never inherited from earlier runs.

Peaks are read in consecutive windows: ``window()`` returns the peak since the previous
window began and starts the next one; ``run_peak()`` is the largest since ``start_run()``.
Stage clocks take one window per stage, so the run's peak covers every moment between.
``run_added()`` is the run's peak above what the process held when the run started
(``memory_added_mb``): in a sweep whose cells share one process, the process's peak also
holds what earlier cells left behind (loaded libraries, caches), the added part does not.

- CPU on Linux: the process's resident high-water mark (``VmHWM``), reset by writing
  ``5`` to ``/proc/self/clear_refs``. A run starts by collecting garbage and returning
  freed heap to the kernel (``malloc_trim``): what an earlier run of the same process
  freed but kept mapped is not this run's.
- CPU elsewhere (or without that file): the peak RSS since the process started, and
  RSS at each stage's end; the tag says so.
- CUDA: torch's allocator peak (reset per window); ``device_memory`` adds what lives
  outside torch's allocator (CUDA context, ONNX Runtime's arena, TensorRT's engine
  weights): this process's device memory from NVML's per-process counters minus torch's
  reserved memory, at the run's end. Where NVML cannot say (no per-process counters, or a
  container's PID namespace) it falls back to the whole device's memory in use minus
  torch's reserve, which counts other processes too; the method tag says which.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import re
import resource
import sys
from pathlib import Path

import psutil
import torch

CLEAR_REFS = Path("/proc/self/clear_refs")
STATUS = Path("/proc/self/status")
RESET_PEAK_RSS = "5"  # clear_refs: reset the peak resident set size (Linux >= 4.0)

TAG_HWM = "rss_hwm_per_run"
TAG_SINCE_START = "rss_peak_since_process_start"
TAG_CUDA = "cuda_torch_allocator_peak"
OUTSIDE_NVML = "+outside_torch_nvml_process_at_end"
OUTSIDE_DEVICE = "+outside_torch_device_minus_reserved_at_end"


def vm_hwm_mb() -> float:
    """The process's peak resident set size since the last reset, from /proc (MiB)."""
    match = re.search(r"^VmHWM:\s+(\d+) kB", STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise OSError("no VmHWM in /proc/self/status")
    return int(match.group(1)) / 1024


def reset_vm_hwm() -> None:
    with CLEAR_REFS.open("w") as handle:
        handle.write(RESET_PEAK_RSS)


def can_reset_rss_peak() -> bool:
    try:
        reset_vm_hwm()
        vm_hwm_mb()
    except OSError:
        return False
    return True


def release_freed_heap() -> None:
    """Garbage-collect, then hand freed heap pages back to the kernel (glibc)."""
    gc.collect()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
            ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


class PeakWindows:
    """Peak memory in windows (see the module docstring); ``method`` names how."""

    method = TAG_SINCE_START

    def __init__(self) -> None:
        self._run_max = 0.0
        self._start_mb = 0.0

    def _read(self) -> float:
        return psutil.Process().memory_info().rss / 2**20

    def _reset(self) -> None:
        """Start a new peak window (here: nothing can be reset)."""

    def start_run(self) -> None:
        self._reset()
        self._run_max = 0.0
        self._start_mb = self._read()  # a fresh window's peak is what is held now

    def window(self) -> float:
        """The peak since the last window began (MiB); starts the next window."""
        peak = self._read()
        self._run_max = max(self._run_max, peak)
        self._reset()
        return peak

    def run_peak(self) -> float:
        return max(self._run_max, self._read())

    def run_added(self) -> float:
        """The run's peak above what the process held at ``start_run()`` (MiB), from the
        windows' readings."""
        return max(0.0, max(self._run_max, self._read()) - self._start_mb)


class RusagePeak(PeakWindows):
    """No reset available: stage windows read RSS at the stage's end, the run's peak is
    the process's peak since it started."""

    def run_peak(self) -> float:
        max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return max_rss / 2**20 if sys.platform == "darwin" else max_rss / 2**10  # B / KiB


class RssHighWaterMark(PeakWindows):
    method = TAG_HWM

    def _read(self) -> float:
        return vm_hwm_mb()

    def _reset(self) -> None:
        reset_vm_hwm()

    def start_run(self) -> None:
        release_freed_heap()
        super().start_run()


class CudaAllocatorPeak(PeakWindows):
    method = TAG_CUDA

    def __init__(self, device: torch.device) -> None:
        super().__init__()
        self.device = device

    def _read(self) -> float:
        return torch.cuda.max_memory_allocated(self.device) / 2**20

    def _reset(self) -> None:
        torch.cuda.reset_peak_memory_stats(self.device)


_TRACKERS: dict[str, PeakWindows] = {}


def tracker(device: torch.device) -> PeakWindows:
    """The process's one tracker for ``device`` (a peak is per process, not per object)."""
    key = str(device)
    if key not in _TRACKERS:
        if device.type == "cuda":
            _TRACKERS[key] = CudaAllocatorPeak(device)
        elif sys.platform.startswith("linux") and can_reset_rss_peak():
            _TRACKERS[key] = RssHighWaterMark()
        else:
            _TRACKERS[key] = RusagePeak()
    return _TRACKERS[key]


def device_memory(device: torch.device, process_mb: float | None = None) -> dict[str, float]:
    """CUDA only: device memory in use now (the whole device: other processes included),
    this process's own (``process_mb``, from NVML, when known) and the part of this
    process's memory outside torch's allocator; empty on the CPU. Without ``process_mb``
    the part outside torch is the whole device's use minus torch's reserve."""
    if device.type != "cuda":
        return {}
    free, total = torch.cuda.mem_get_info(device)
    used_mb = (total - free) / 2**20
    reserved_mb = torch.cuda.memory_reserved(device) / 2**20
    figures = {"memory_device_used_mb": used_mb}
    if process_mb is not None:
        figures["memory_process_mb"] = process_mb
    figures["memory_outside_torch_mb"] = max(0.0, (used_mb if process_mb is None
                                                   else process_mb) - reserved_mb)
    return figures


def outside_torch_method(process_mb: float | None) -> str:
    """The suffix of the CUDA ``memory.method`` tag: how the part outside torch was read."""
    return OUTSIDE_DEVICE if process_mb is None else OUTSIDE_NVML
