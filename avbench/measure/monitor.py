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

# Clock-event reasons that mean the GPU slowed itself down (not idle or app clocks), as
# nvidia-ml-py names them after ``nvmlClocksEventReason`` (``nvmlClocksThrottleReason`` before
# NVML 12, kept there as deprecated aliases).
THROTTLE_REASONS = ("SwPowerCap", "HwSlowdown", "SwThermalSlowdown", "HwThermalSlowdown",
                    "HwPowerBrakeSlowdown")
EVENT_PREFIXES = ("nvmlClocksEventReason", "nvmlClocksThrottleReason")


class NvmlConstantMissing(RuntimeError):
    """This nvidia-ml-py lacks a constant or call the sampler needs."""


def throttle_mask(nvml: Any) -> int:
    """The bit mask of :data:`THROTTLE_REASONS`; a reason this NVML binding does not name
    raises (a silent 0 would read as "never throttled")."""
    mask = 0
    for reason in THROTTLE_REASONS:
        bit = next((getattr(nvml, prefix + reason) for prefix in EVENT_PREFIXES
                    if hasattr(nvml, prefix + reason)), None)
        if bit is None:
            raise NvmlConstantMissing(f"nvidia-ml-py has no nvmlClocksEventReason{reason}; "
                                      "pip install -U nvidia-ml-py")
        mask |= bit
    return mask


def _call(nvml: Any, *names: str) -> Any:
    """The first of ``names`` the binding has (current name first, deprecated after)."""
    for name in names:
        if hasattr(nvml, name):
            return getattr(nvml, name)
    raise NvmlConstantMissing(f"nvidia-ml-py has none of {names}; pip install -U nvidia-ml-py")


def cuda_uuid(index: int) -> str:
    """NVML's UUID string of torch's CUDA device ``index``. Indices follow
    ``CUDA_VISIBLE_DEVICES`` (and CUDA's device order); NVML's own indices do not."""
    import torch

    return f"GPU-{torch.cuda.get_device_properties(index).uuid}"


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
        self.throttle_mask = throttle_mask(nvml)
        self._reasons = _call(nvml, "nvmlDeviceGetCurrentClocksEventReasons",
                              "nvmlDeviceGetCurrentClocksThrottleReasons")
        self._temperature = _call(nvml, "nvmlDeviceGetTemperatureV", "nvmlDeviceGetTemperature")

    @classmethod
    def open(cls, index: int) -> NvmlReader | None:
        """The reader of torch's CUDA device ``index`` (found by UUID), or None."""
        return cls.try_open(index)[0]

    @classmethod
    def try_open(cls, index: int) -> tuple[NvmlReader | None, str]:
        """``(reader, "")``, or ``(None, why not)``: no library, driver or device, or a
        binding that lacks what the reader needs."""
        try:
            import pynvml

            uuid = cuda_uuid(index)
            pynvml.nvmlInit()
        except Exception as error:  # no library, no driver or no device: CPU-only telemetry
            log.debug("NVML unavailable: %s", error)
            return None, f"{type(error).__name__}: {error}"
        try:
            return cls(pynvml, pynvml.nvmlDeviceGetHandleByUUID(uuid)), ""
        except Exception as error:
            log.warning("NVML cannot read %s (cuda:%d): %s; no GPU telemetry", uuid, index, error)
            pynvml.nvmlShutdown()
            return None, f"{uuid}: {type(error).__name__}: {error}"

    def read(self) -> dict[str, float]:
        nvml, handle = self.nvml, self.handle
        reasons = self._reasons(handle)
        return {
            "gpu_util_pct": float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
            "gpu_mem_used_mb": nvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20,
            "gpu_sm_clock_mhz": float(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM)),
            "gpu_temp_c": float(self._temperature(handle, nvml.NVML_TEMPERATURE_GPU)),
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
        gpu_samples = [s.gpu for s in self.samples if s.gpu]  # failed readings have none
        for key in gpu_samples[0] if gpu_samples else ():
            out[f"monitor.{key}"] = [gpu[key] for gpu in gpu_samples]
        return out

    def tags(self) -> dict[str, str]:
        """Whether the GPU was read, and the first failed reading with the count (if any)."""
        tags = {}
        if self.gpu_index is not None or self.gpu_read:
            tags["monitor.gpu"] = ("nvml" if self.gpu_read
                                   else f"unavailable ({self.gpu_unavailable})")
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
