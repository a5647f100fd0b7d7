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

log = logging.getLogger(__name__)

# Clock-event reasons that mean the GPU slowed itself down (not idle or app clocks).
THROTTLE_REASONS = ("SwPowerCap", "HwSlowdown", "SwThermalSlowdown", "HwThermalSlowdown",
                    "HwPowerBrakeSlowdown")


@dataclass
class Sample:
    t_s: float
    cpu_pct: float
    rss_mb: float
    gpu: dict[str, float] = field(default_factory=dict)


class NvmlReader:
    """Reads one NVIDIA device through nvidia-ml-py; ``open`` returns None without one."""

    def __init__(self, nvml: Any, handle: Any) -> None:
        self.nvml = nvml
        self.handle = handle
        self.throttle_mask = 0
        for reason in THROTTLE_REASONS:
            self.throttle_mask |= getattr(nvml, f"nvmlClocksThrottleReason{reason}", 0)

    @classmethod
    def open(cls, index: int) -> NvmlReader | None:
        try:
            import pynvml

            pynvml.nvmlInit()
            return cls(pynvml, pynvml.nvmlDeviceGetHandleByIndex(index))
        except Exception as error:  # no library, no driver or no device: CPU-only telemetry
            log.debug("NVML unavailable: %s", error)
            return None

    def read(self) -> dict[str, float]:
        nvml, handle = self.nvml, self.handle
        reasons = nvml.nvmlDeviceGetCurrentClocksThrottleReasons(handle)
        return {
            "gpu_util_pct": float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
            "gpu_mem_used_mb": nvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20,
            "gpu_sm_clock_mhz": float(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM)),
            "gpu_temp_c": float(nvml.nvmlDeviceGetTemperature(handle,
                                                              nvml.NVML_TEMPERATURE_GPU)),
            "gpu_power_w": nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0,
            "gpu_throttled": float(bool(reasons & self.throttle_mask)),
        }

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:
            log.debug("nvmlShutdown failed", exc_info=True)


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

    def __init__(self, interval_s: float = 0.1, gpu_index: int | None = None) -> None:
        if interval_s <= 0:
            raise ValueError(f"bench.monitor_interval_s must be positive, got {interval_s}")
        self.interval_s = interval_s
        self.gpu_index = gpu_index
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process = psutil.Process()
        self._gpu: NvmlReader | None = None

    def start(self) -> Monitor:
        if self._thread is not None:
            raise RuntimeError("monitor already started")
        self._gpu = NvmlReader.open(self.gpu_index) if self.gpu_index is not None else None
        self._process.cpu_percent(None)  # the first reading only sets the baseline
        self._cpu_start = CpuShare.reading(self._process)
        self.cpu_share: CpuShare | None = None
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, name="avbench-monitor", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.samples.append(self._sample())

    def _sample(self) -> Sample:
        sample = Sample(t_s=time.perf_counter() - self._start,
                        cpu_pct=self._process.cpu_percent(None),
                        rss_mb=self._process.memory_info().rss / 2**20)
        if self._gpu is not None:
            sample.gpu = self._gpu.read()
        return sample

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
        for key in self.samples[0].gpu if self.samples else ():
            out[f"monitor.{key}"] = [s.gpu[key] for s in self.samples]
        return out

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
        if "monitor.gpu_util_pct" in series:
            out |= {
                "monitor.gpu_util_pct.mean": float(np.mean(series["monitor.gpu_util_pct"])),
                "monitor.gpu_mem_used_mb.max": float(np.max(series["monitor.gpu_mem_used_mb"])),
                "monitor.gpu_temp_c.max": float(np.max(series["monitor.gpu_temp_c"])),
                "monitor.gpu_power_w.mean": float(np.mean(series["monitor.gpu_power_w"])),
                "monitor.gpu_sm_clock_mhz.mean": float(np.mean(series["monitor.gpu_sm_clock_mhz"])),
                "monitor.gpu_throttled.fraction": float(np.mean(series["monitor.gpu_throttled"])),
            }
        return out
