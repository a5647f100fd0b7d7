"""Reading one NVIDIA GPU through NVML (nvidia-ml-py), field by field.

What the Python binding exposes is not what the driver supports: nvidia-ml-py resolves
each NVML function when it is called and raises ``NVMLError_FunctionNotFound`` when the
driver's library lacks it (an older driver without ``nvmlDeviceGetTemperatureV`` or
``nvmlDeviceGetCurrentClocksEventReasons``). And one quantity can be unsupported on its
own (power under MIG: ``NVMLError_NotSupported``). So each field is probed once when the
reader opens, current function first and the deprecated one after; a field no function
can read is left out (with why), and each reading reads every field separately, so one
failure never costs the others.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# Clock-event reasons that mean the GPU slowed itself down (not idle or app clocks), as
# nvidia-ml-py names them after ``nvmlClocksEventReason`` (``nvmlClocksThrottleReason`` before
# NVML 12, kept there as deprecated aliases).
THROTTLE_REASONS = ("SwPowerCap", "HwSlowdown", "SwThermalSlowdown", "HwThermalSlowdown",
                    "HwPowerBrakeSlowdown")
EVENT_PREFIXES = ("nvmlClocksEventReason", "nvmlClocksThrottleReason")


class NvmlConstantMissing(RuntimeError):
    """This nvidia-ml-py lacks a constant the reader needs."""


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


def cuda_uuid(index: int) -> str:
    """NVML's UUID string of torch's CUDA device ``index``. Indices follow
    ``CUDA_VISIBLE_DEVICES`` (and CUDA's device order); NVML's own indices do not."""
    import torch

    return f"GPU-{torch.cuda.get_device_properties(index).uuid}"


def _throttled(nvml: Any, call: Callable[..., Any], handle: Any) -> float:
    return float(bool(call(handle) & throttle_mask(nvml)))


def process_used_mb(processes: list[Any], pid: int | None = None) -> float:
    """This process's device memory (MiB) in NVML's list of compute processes. Raises when
    NVML does not list it (inside a container NVML reports the host's PIDs) or cannot say
    (``usedGpuMemory`` None, e.g. under Windows' WDDM driver)."""
    pid = os.getpid() if pid is None else pid
    used = [p.usedGpuMemory for p in processes if p.pid == pid]
    if not used:
        raise LookupError(f"NVML lists no compute process with this pid ({pid}): in a "
                          "container it reports the host's PIDs")
    if any(u is None for u in used):
        raise LookupError("NVML does not report per-process memory here (usedGpuMemory None)")
    return sum(used) / 2**20


@dataclass(frozen=True)
class Field:
    """One sampled quantity: NVML functions that read it (current first) and how."""

    name: str
    calls: tuple[str, ...]
    value: Callable[[Any, Callable[..., Any], Any], float]  # (nvml, function, handle)


FIELDS = (
    Field("gpu_util_pct", ("nvmlDeviceGetUtilizationRates",),
          lambda nvml, call, handle: float(call(handle).gpu)),
    Field("gpu_mem_used_mb", ("nvmlDeviceGetMemoryInfo",),
          lambda nvml, call, handle: call(handle).used / 2**20),
    Field("gpu_sm_clock_mhz", ("nvmlDeviceGetClockInfo",),
          lambda nvml, call, handle: float(call(handle, nvml.NVML_CLOCK_SM))),
    Field("gpu_temp_c", ("nvmlDeviceGetTemperatureV", "nvmlDeviceGetTemperature"),
          lambda nvml, call, handle: float(call(handle, nvml.NVML_TEMPERATURE_GPU))),
    Field("gpu_power_w", ("nvmlDeviceGetPowerUsage",),
          lambda nvml, call, handle: call(handle) / 1000.0),
    Field("gpu_throttled", ("nvmlDeviceGetCurrentClocksEventReasons",
                            "nvmlDeviceGetCurrentClocksThrottleReasons"), _throttled),
    # This process's own device memory (the v3 call first; v2 on drivers without it).
    Field("gpu_process_mem_mb", ("nvmlDeviceGetComputeRunningProcesses",
                                 "nvmlDeviceGetComputeRunningProcesses_v2"),
          lambda nvml, call, handle: process_used_mb(call(handle))),
)


def probe(nvml: Any, handle: Any, field: Field) -> tuple[Callable[[], float] | None, str]:
    """``(reader of field, "")`` from the first of its functions that reads here, or
    ``(None, why)``: the binding or the driver lacks them all, or the device refuses."""
    function_not_found = getattr(nvml, "NVMLError_FunctionNotFound", ())
    missing = []
    for name in field.calls:
        call = getattr(nvml, name, None)
        if call is None:
            missing.append(f"{name} (not in nvidia-ml-py)")
            continue
        read = functools.partial(field.value, nvml, call, handle)
        try:
            read()
        except function_not_found:
            missing.append(f"{name} (not in the driver)")
            continue
        except Exception as error:  # NotSupported (e.g. power under MIG), a missing constant
            return None, f"{type(error).__name__}: {error}"
        return read, ""
    return None, "no " + " or ".join(missing)


class NvmlReader:
    """Reads one NVIDIA device through nvidia-ml-py; ``open`` returns None without one."""

    def __init__(self, nvml: Any, handle: Any) -> None:
        self.nvml = nvml
        self.handle = handle
        self.readers: dict[str, Callable[[], float]] = {}
        self.unavailable: dict[str, str] = {}  # field -> why it is not sampled
        for field in FIELDS:
            read, why = probe(nvml, handle, field)
            if read is None:
                self.unavailable[field.name] = why
            else:
                self.readers[field.name] = read
        self.failures: list[tuple[str, Exception]] = []  # of the last reading

    @classmethod
    def open(cls, index: int) -> NvmlReader | None:
        """The reader of torch's CUDA device ``index`` (found by UUID), or None."""
        return cls.try_open(index)[0]

    @classmethod
    def try_open(cls, index: int) -> tuple[NvmlReader | None, str]:
        """``(reader, "")``, or ``(None, why not)``: no library, driver or device."""
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
        """Every probed field, each read on its own: a failed one is left out of this reading
        and kept in ``failures``."""
        values, self.failures = {}, []
        for name, read in self.readers.items():
            try:
                values[name] = read()
            except Exception as error:
                self.failures.append((name, error))
        return values

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:
            log.debug("nvmlShutdown failed", exc_info=True)


def process_memory_mb(index: int) -> tuple[float | None, str]:
    """``(MiB, "")``: this process's memory on torch's CUDA device ``index`` from NVML's
    per-process counters, or ``(None, why not)``."""
    reader, why = NvmlReader.try_open(index)
    if reader is None:
        return None, why
    try:
        read = reader.readers.get("gpu_process_mem_mb")
        if read is None:
            return None, reader.unavailable.get("gpu_process_mem_mb", "not readable")
        try:
            return read(), ""
        except Exception as error:
            return None, f"{type(error).__name__}: {error}"
    finally:
        reader.close()
