"""The machine-load readings (other processes, steal) and the timing-noise probe."""

from __future__ import annotations

import multiprocessing
import time

import psutil
import pytest

from avbench.measure.monitor import CpuShare, Monitor
from avbench.measure.noise import probe_noise


def _spin(seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pass


def test_another_process_is_counted_and_this_one_is_not() -> None:
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=_spin, args=(3.0,))
    child.start()
    try:
        time.sleep(0.8)  # the child is up and spinning
        with Monitor(interval_s=0.05) as monitor:
            time.sleep(1.0)  # this process idles: the busy core is someone else's
    finally:
        child.join()
    cores = psutil.cpu_count()
    busy = monitor.summary()
    # One spinning process is one core's worth: 100 / cores % of the machine's CPU time.
    assert busy["monitor.other_cpu_pct"] > 0.6 * 100 / cores
    assert 0 <= busy["monitor.steal_pct"] < 100

    start = CpuShare.reading(psutil.Process())
    _spin(0.5)  # this process is busy; nobody else spins
    own = CpuShare.between(start, CpuShare.reading(psutil.Process()))
    assert own.total_s > 0
    assert own.other_pct < 0.5 * 100 / cores


def test_noise_probe_times_identical_blocks() -> None:
    floor = probe_noise(seconds=1.0, block_s=0.1)
    assert floor.blocks == 5
    assert 0 < floor.compute_cv < 1 and 0 < floor.memory_cv < 1
    assert floor.cv == max(floor.compute_cv, floor.memory_cv)
    assert 0.5 < floor.memory_gb_s < 2000  # a 64 MB copy runs at DRAM speed, not cache speed
    assert 0 <= floor.other_cpu_pct <= 100 and 0 <= floor.steal_pct <= 100
    with pytest.raises(ValueError, match="at least two blocks"):
        probe_noise(seconds=0.3, block_s=0.1)
