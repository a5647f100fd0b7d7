"""The NVML reader against a binding stub that behaves as nvidia-ml-py does on an older
driver: the functions are in the binding, and raise NVMLError_FunctionNotFound when called.
The errors and constants are nvidia-ml-py's own."""

from __future__ import annotations

import os
import time
import types

import pynvml
import pytest
import torch

from avbench.measure.monitor import Monitor
from avbench.measure.nvml import (
    THROTTLE_REASONS,
    NvmlConstantMissing,
    NvmlReader,
    cuda_uuid,
    process_used_mb,
    throttle_mask,
)

ALL = {"gpu_util_pct", "gpu_mem_used_mb", "gpu_sm_clock_mhz", "gpu_temp_c", "gpu_power_w",
       "gpu_throttled", "gpu_process_mem_mb"}


def processes(*pairs: tuple[int, int | None]) -> list[types.SimpleNamespace]:
    """NVML's compute processes as nvidia-ml-py returns them: pid and usedGpuMemory (B)."""
    return [types.SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in pairs]


def not_found(*_: object) -> None:
    raise pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)


def not_supported(*_: object) -> None:
    raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)


def binding(**functions: object) -> types.SimpleNamespace:
    """nvidia-ml-py's errors and constants, with NVML functions that read fixed values;
    ``functions`` replaces some (None: not in the binding at all)."""
    names = [n for n in dir(pynvml) if n.startswith(("NVML", "nvmlClocks"))]
    calls = {
        "nvmlDeviceGetUtilizationRates": lambda h: types.SimpleNamespace(gpu=70),
        "nvmlDeviceGetMemoryInfo": lambda h: types.SimpleNamespace(used=3 * 2**30),
        "nvmlDeviceGetClockInfo": lambda h, clock: 1410,
        "nvmlDeviceGetTemperatureV": lambda h, sensor: 61,
        "nvmlDeviceGetTemperature": lambda h, sensor: 60,
        "nvmlDeviceGetPowerUsage": lambda h: 250_000,
        "nvmlDeviceGetCurrentClocksEventReasons": lambda h: pynvml.nvmlClocksEventReasonGpuIdle,
        "nvmlDeviceGetCurrentClocksThrottleReasons":
            lambda h: pynvml.nvmlClocksEventReasonSwPowerCap,
        "nvmlDeviceGetComputeRunningProcesses":
            lambda h: processes((1, 2**30), (os.getpid(), 700 * 2**20)),
        "nvmlDeviceGetComputeRunningProcesses_v2":
            lambda h: processes((os.getpid(), 600 * 2**20)),
        "nvmlShutdown": lambda: None,
    } | functions
    return types.SimpleNamespace(**{n: getattr(pynvml, n) for n in names},
                                 **{n: f for n, f in calls.items() if f is not None})


def test_an_older_driver_falls_back_to_the_deprecated_calls_per_field() -> None:
    nvml = binding(nvmlDeviceGetTemperatureV=not_found,
                   nvmlDeviceGetCurrentClocksEventReasons=not_found)
    reader = NvmlReader(nvml, handle="gpu0")
    assert set(reader.readers) == ALL and reader.unavailable == {}
    reading = reader.read()
    assert reading["gpu_temp_c"] == 60.0  # nvmlDeviceGetTemperature
    assert reading["gpu_throttled"] == 1.0  # the deprecated call's SwPowerCap
    assert reading["gpu_mem_used_mb"] == 3072.0 and reader.failures == []
    assert reading["gpu_process_mem_mb"] == 700.0  # this process only, not pid 1's GiB
    older = NvmlReader(binding(nvmlDeviceGetComputeRunningProcesses=not_found), handle="gpu0")
    assert older.read()["gpu_process_mem_mb"] == 600.0  # the _v2 call


def test_this_process_is_found_by_pid_or_the_field_says_why() -> None:
    assert process_used_mb(processes((7, 2**20), (8, 3 * 2**20)), pid=8) == 3.0
    with pytest.raises(LookupError, match="host's PIDs"):
        process_used_mb(processes((7, 2**20)), pid=8)
    with pytest.raises(LookupError, match="usedGpuMemory None"):
        process_used_mb(processes((8, None)), pid=8)
    in_container = NvmlReader(binding(nvmlDeviceGetComputeRunningProcesses=lambda h: [],
                                      nvmlDeviceGetComputeRunningProcesses_v2=lambda h: []),
                              handle="gpu0")
    assert "LookupError" in in_container.unavailable["gpu_process_mem_mb"]
    assert set(in_container.read()) == ALL - {"gpu_process_mem_mb"}


def test_the_current_calls_are_used_where_the_driver_has_them() -> None:
    reading = NvmlReader(binding(), handle="gpu0").read()
    assert reading["gpu_temp_c"] == 61.0 and reading["gpu_throttled"] == 0.0  # idle


def test_an_older_binding_without_the_new_names_falls_back_too() -> None:
    nvml = binding(nvmlDeviceGetTemperatureV=None, nvmlDeviceGetCurrentClocksEventReasons=None)
    assert NvmlReader(nvml, handle="gpu0").read()["gpu_temp_c"] == 60.0


def test_one_unsupported_field_leaves_the_others() -> None:
    """Power under MIG is NotSupported: that field is left out with why, never the rest."""
    reader = NvmlReader(binding(nvmlDeviceGetPowerUsage=not_supported), handle="gpu0")
    assert set(reader.readers) == ALL - {"gpu_power_w"}
    assert "NotSupported" in reader.unavailable["gpu_power_w"]
    assert set(reader.read()) == ALL - {"gpu_power_w"}
    gone = NvmlReader(binding(nvmlDeviceGetTemperatureV=not_found,
                              nvmlDeviceGetTemperature=not_found), handle="gpu0")
    assert gone.unavailable["gpu_temp_c"] == ("no nvmlDeviceGetTemperatureV (not in the "
                                              "driver) or nvmlDeviceGetTemperature (not in "
                                              "the driver)")


def test_a_missing_throttle_constant_costs_only_that_field() -> None:
    nvml = binding()
    del nvml.nvmlClocksEventReasonHwSlowdown, nvml.nvmlClocksThrottleReasonHwSlowdown
    with pytest.raises(NvmlConstantMissing, match="HwSlowdown"):
        throttle_mask(nvml)
    reader = NvmlReader(nvml, handle="gpu0")
    assert "NvmlConstantMissing" in reader.unavailable["gpu_throttled"]
    assert set(reader.read()) == ALL - {"gpu_throttled"}  # never "not throttled"


def test_throttle_reasons_resolve_to_nvml_clock_event_constants() -> None:
    mask = throttle_mask(pynvml)
    expected = 0
    for reason in THROTTLE_REASONS:
        expected |= getattr(pynvml, f"nvmlClocksEventReason{reason}")  # the current names
    assert mask == expected != 0
    assert not mask & pynvml.nvmlClocksEventReasonGpuIdle  # idle is not throttling


class Flaky:
    """Temperature fails on every second call after probing; the rest always reads."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, handle: object, sensor: int) -> int:
        self.calls += 1
        if self.calls > 1 and self.calls % 2 == 0:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN)
        return 55


def test_the_sampler_keeps_the_other_fields_and_tags_what_it_sampled() -> None:
    flaky = Flaky()
    reader = NvmlReader(binding(nvmlDeviceGetTemperatureV=flaky,
                                nvmlDeviceGetPowerUsage=not_supported), handle="gpu0")
    with Monitor(interval_s=0.005, gpu_reader=reader) as monitor:
        deadline = time.perf_counter() + 5.0
        while flaky.calls < 7 and time.perf_counter() < deadline:
            time.sleep(0.005)
    series = monitor.series()
    assert len(series["monitor.gpu_util_pct"]) == len(monitor.samples)  # never wiped
    assert 0 < len(series["monitor.gpu_temp_c"]) < len(monitor.samples)
    assert "monitor.gpu_power_w" not in series
    assert monitor.errors and all(e.startswith("gpu gpu_temp_c: ") for e in monitor.errors)
    tags = monitor.tags()
    assert tags["monitor.gpu_fields"] == ",".join(sorted(ALL - {"gpu_power_w"}))
    assert tags["monitor.gpu_unavailable"].startswith("gpu_power_w: NVMLError_NotSupported")
    summary = monitor.summary()
    assert summary["monitor.gpu_temp_c.max"] == 55.0
    assert "monitor.gpu_power_w.mean" not in summary


def test_no_readable_field_is_no_gpu_telemetry() -> None:
    nothing = {name: not_found for name in dir(binding()) if name.startswith("nvmlDevice")}
    monitor = Monitor(interval_s=0.01, gpu_index=0,
                      gpu_reader=NvmlReader(binding(**nothing), handle="gpu0"))
    with monitor:
        pass
    assert monitor.tags()["monitor.gpu"].startswith("unavailable (no field readable: ")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="NVML needs an NVIDIA GPU")
def test_nvml_reader_opens_torch_device_by_uuid() -> None:
    reader = NvmlReader.open(0)
    assert reader is not None
    try:
        assert pynvml.nvmlDeviceGetUUID(reader.handle) == cuda_uuid(0)
        assert {"gpu_mem_used_mb", "gpu_temp_c", "gpu_util_pct"} <= set(reader.readers), \
            reader.unavailable
        reading = reader.read()
        assert reader.failures == [] and set(reading) == set(reader.readers)
        assert reading["gpu_mem_used_mb"] > 0 and reading["gpu_temp_c"] > 0
    finally:
        reader.close()
