"""The background sampler, thread settings and the known-cost calibration pipeline."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from avbench.measure.monitor import Monitor
from avbench.measure.nvml import NvmlReader
from avbench.measure.threads import apply_threads
from avbench.measure.timer import RepeatPolicy, repeat
from avbench.pipelines.calibration import CalibrationPipeline


def avbench_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "avbench-monitor"]


def test_sampler_collects_and_leaves_no_thread() -> None:
    a = torch.randn(256, 256)
    with Monitor(interval_s=0.01) as monitor:
        assert len(avbench_threads()) == 1
        # Until five samples are in (a busy machine only makes this take longer).
        deadline = time.perf_counter() + 120
        while len(monitor.samples) < 5 and time.perf_counter() < deadline:
            a = torch.tanh(a @ a)  # torch releases the GIL: the sampler runs
    assert avbench_threads() == []
    assert len(monitor.samples) >= 5
    # Never sooner than the interval (Event.wait(interval) between readings).
    times = [s.t_s for s in monitor.samples]
    assert min(b - a for a, b in zip(times[:-1], times[1:], strict=True)) >= 0.009
    summary = monitor.summary()
    assert summary.get("monitor.samples") is None
    assert summary["monitor.rss_mb.max"] > 10
    assert summary["monitor.cpu_pct.mean"] > 0  # the matmuls' CPU time is seen (busy or not)
    series = monitor.series()
    assert len(series["monitor.cpu_pct"]) == len(monitor.samples)
    assert monitor.stop() is monitor.samples  # stopping twice is harmless


def test_sampler_without_gpu_reports_cpu_only() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the CPU-only summary does not apply")
    assert NvmlReader.open(0) is None
    with Monitor(interval_s=0.01, gpu_index=0) as monitor:
        time.sleep(0.05)
    assert not any(key.startswith("monitor.gpu") for key in monitor.summary())


def test_bad_interval_is_rejected() -> None:
    with pytest.raises(ValueError, match="monitor_interval_s"):
        Monitor(interval_s=0)


def test_threads_are_applied_and_recorded() -> None:
    before = torch.get_num_threads()
    try:
        recorded = apply_threads(1)
        assert recorded["threads.torch"] == 1 == torch.get_num_threads()
        assert all(v == 1 for k, v in recorded.items() if k in ("threads.blas", "threads.openmp"))
    finally:
        apply_threads(before)


def test_known_cost_stages_are_never_measured_short() -> None:
    """Busy-wait stages of 5 and 30 ms on the real clock: no repeat measures a stage below its
    cost, nor the total below the stages' sum. How close to the cost the harness gets is a
    benchmark figure (pipeline=calibration), not a test: a busy machine adds to any repeat.
    Exact stage and total figures are tested on a fake clock (tests/pipelines/test_base.py)."""
    pipe = CalibrationPipeline({"short": 5.0, "long": 30.0})
    times = repeat(lambda cb: pipe.run(torch.zeros(1), profiling_callback=cb), pipe.stage_names,
                   RepeatPolicy(warmup=1, min_repeats=3, max_repeats=3))
    for stage, ms in pipe.stage_ms.items():
        assert min(times.samples_ms[stage]) >= ms
    for repeat_row in times.rows():
        assert repeat_row["total_ms"] >= repeat_row["short_ms"] + repeat_row["long_ms"]


class FlakyReader:
    """A GPU reader whose every second reading raises NVML's own error."""

    def __init__(self) -> None:
        self.calls = 0
        self.closed = False

    def read(self) -> dict[str, float]:
        import pynvml

        self.calls += 1
        if self.calls % 2 == 0:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
        return {"gpu_util_pct": 50.0, "gpu_mem_used_mb": 1.0, "gpu_sm_clock_mhz": 1.0,
                "gpu_temp_c": 40.0, "gpu_power_w": 1.0, "gpu_throttled": 0.0}

    def close(self) -> None:
        self.closed = True


def test_sampler_survives_a_failing_gpu_reading_and_records_it() -> None:
    reader = FlakyReader()
    with Monitor(interval_s=0.005, gpu_reader=reader) as monitor:
        deadline = time.perf_counter() + 5.0
        while reader.calls < 6 and time.perf_counter() < deadline:
            time.sleep(0.005)
        assert avbench_threads(), "the sampler thread died on the first failed reading"
    assert reader.calls >= 6 and reader.closed
    assert len(monitor.errors) == reader.calls // 2
    assert "GPU is lost" in monitor.errors[0]
    tags = monitor.tags()
    assert tags["monitor.gpu"] == "nvml"
    assert tags["monitor.error"].startswith(f"{len(monitor.errors)} failed reading(s)")
    good = len(monitor.samples) - len(monitor.errors)
    assert len(monitor.series()["monitor.gpu_util_pct"]) == good > 0
    assert monitor.summary()["monitor.gpu_util_pct.mean"] == 50.0
