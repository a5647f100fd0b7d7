"""Background telemetry sampler: CPU and RSS always, NVIDIA GPU state through NVML.

Started before the timed repeats and stopped after them; ``stop`` joins the
thread, so nothing is left running. Samples become step metrics and a
summary (mean GPU utilisation, max temperature, throttled fraction), with
the share of the machine's CPU time other processes and the hypervisor
(steal) took meanwhile: the usual causes of a noisy run.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psutil

from avbench.measure.nvml import NvmlReader

log = logging.getLogger(__name__)

# The summary figure of each GPU field: its statistic's name and how it is computed.
GPU_SUMMARY = {"gpu_util_pct": ("mean", np.mean), "gpu_mem_used_mb": ("max", np.max),
               "gpu_temp_c": ("max", np.max), "gpu_power_w": ("mean", np.mean),
               "gpu_sm_clock_mhz": ("mean", np.mean), "gpu_throttled": ("fraction", np.mean),
               "gpu_process_mem_mb": ("max", np.max)}


@dataclass
class Sample:
    t_s: float
    cpu_pct: float
    rss_mb: float
    gpu: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CpuShare:
    """Machine-wide CPU time between two readings: what this process, other processes and
    the hypervisor (steal) took, as % of all cores' time. Linux reports steal; elsewhere 0."""

    total_s: float
    other_pct: float
    steal_pct: float

    @staticmethod
    def reading(process: psutil.Process) -> tuple[Any, Any]:
        return psutil.cpu_times(), process.cpu_times()

    @classmethod
    def between(cls, start: tuple[Any, Any], end: tuple[Any, Any]) -> CpuShare:
        (machine0, own0), (machine1, own1) = start, end
        delta = {f: getattr(machine1, f) - getattr(machine0, f) for f in machine0._fields}
        total = sum(delta.values())
        if total <= 0:
            return cls(0.0, 0.0, 0.0)
        idle = delta["idle"] + delta.get("iowait", 0.0) + delta.get("steal", 0.0)
        own = (own1.user + own1.system) - (own0.user + own0.system)
        # The guest fields are already counted in user/nice.
        busy = total - idle - delta.get("guest", 0.0) - delta.get("guest_nice", 0.0)
        return cls(total, max(0.0, 100 * (busy - own) / total),
                   100 * delta.get("steal", 0.0) / total)


class Monitor:
    """Samples every ``interval_s`` on a daemon thread between ``start`` and ``stop``."""

    def __init__(self, interval_s: float = 0.1, gpu_index: int | None = None,
                 gpu_reader: Any = None) -> None:
        """``gpu_index``: torch's CUDA index to read through NVML; ``gpu_reader``: an
        already open reader (anything with ``read()`` and ``close()``) instead."""
        if interval_s <= 0:
            raise ValueError(f"bench.monitor_interval_s must be positive, got {interval_s}")
        self.interval_s = interval_s
        self.gpu_index = gpu_index
        self.samples: list[Sample] = []
        self.errors: list[str] = []  # one line per failed reading; the sampler goes on
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process = psutil.Process()
        self._gpu = gpu_reader
        self.gpu_read = False
        self.gpu_unavailable = ""  # why NVML could not be read, when it was asked for

    def start(self) -> Monitor:
        if self._thread is not None:
            raise RuntimeError("monitor already started")
        if self._gpu is None and self.gpu_index is not None:
            self._gpu, self.gpu_unavailable = NvmlReader.try_open(self.gpu_index)
        if self._gpu is not None and getattr(self._gpu, "readers", True) == {}:
            reasons = "; ".join(f"{k}: {v}" for k, v in self._gpu.unavailable.items())
            self._gpu.close()
            self._gpu, self.gpu_unavailable = None, f"no field readable: {reasons}"
        self.gpu_read = self._gpu is not None
        self._process.cpu_percent(None)  # the first reading only sets the baseline
        self._cpu_start = CpuShare.reading(self._process)
        self.cpu_share: CpuShare | None = None
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, name="avbench-monitor", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                sample = Sample(t_s=time.perf_counter() - self._start,
                                cpu_pct=self._process.cpu_percent(None),
                                rss_mb=self._process.memory_info().rss / 2**20)
            except Exception as error:  # psutil: the thread must outlive any one reading
                self._record_error("cpu", error)
                continue
            if self._gpu is not None:
                try:
                    sample.gpu = self._gpu.read()
                except Exception as error:  # e.g. NVMLError: this sample has no GPU figures
                    self._record_error("gpu", error)
                else:
                    for name, error in getattr(self._gpu, "failures", ()):  # a field each
                        self._record_error(f"gpu {name}", error)
            self.samples.append(sample)

    def _record_error(self, what: str, error: Exception) -> None:
        if not self.errors:
            log.warning("telemetry: a %s reading failed (%s: %s); sampling goes on and the "
                        "failures are recorded", what, type(error).__name__, error)
        self.errors.append(f"{what}: {type(error).__name__}: {error}")

    def stop(self) -> list[Sample]:
        if self._thread is None:
            return self.samples
        self._stop.set()
        self._thread.join()
        self._thread = None
        self.cpu_share = CpuShare.between(self._cpu_start, CpuShare.reading(self._process))
        if self._gpu is not None:
            self._gpu.close()
        return self.samples

    def __enter__(self) -> Monitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def series(self) -> dict[str, list[float]]:
        """Each sampled quantity as a list, for step metrics."""
        out: dict[str, list[float]] = {
            "monitor.cpu_pct": [s.cpu_pct for s in self.samples],
            "monitor.rss_mb": [s.rss_mb for s in self.samples],
        }
        keys = sorted({key for s in self.samples for key in s.gpu})
        for key in keys:  # a failed reading (or field) has no value in that sample
            out[f"monitor.{key}"] = [s.gpu[key] for s in self.samples if key in s.gpu]
        return out

    def tags(self) -> dict[str, str]:
        """Whether the GPU was read and which of its fields were sampled (and why the others
        were not), and the first failed reading with the count (if any)."""
        tags = {}
        if self.gpu_index is not None or self.gpu_read:
            tags["monitor.gpu"] = ("nvml" if self.gpu_read
                                   else f"unavailable ({self.gpu_unavailable})")
        sampled = sorted({key for s in self.samples for key in s.gpu})
        if self.gpu_read:
            tags["monitor.gpu_fields"] = ",".join(sampled) or "none"
        if missing := getattr(self._gpu, "unavailable", None):
            tags["monitor.gpu_unavailable"] = "; ".join(f"{k}: {v}" for k, v in missing.items())
        if self.errors:
            tags["monitor.error"] = f"{len(self.errors)} failed reading(s); first: {self.errors[0]}"
        return tags

    def summary(self) -> dict[str, float]:
        """Means and maxima of the samples (empty when nothing was sampled)."""
        if not self.samples:
            return {}
        series = self.series()
        out = {"monitor.cpu_pct.mean": float(np.mean(series["monitor.cpu_pct"])),
               "monitor.rss_mb.max": float(np.max(series["monitor.rss_mb"]))}
        if self.cpu_share is not None:
            out |= {"monitor.other_cpu_pct": self.cpu_share.other_pct,
                    "monitor.steal_pct": self.cpu_share.steal_pct}
        for key, (statistic, reduce) in GPU_SUMMARY.items():
            if f"monitor.{key}" in series:  # only the fields that were sampled
                out[f"monitor.{key}.{statistic}"] = float(reduce(series[f"monitor.{key}"]))
        return out
