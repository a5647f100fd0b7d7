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


TICK_S = 0.05  # CPU times are counted in clock ticks (10 ms) by two different sources


def _wait_until_busy(process: psutil.Process, cpu_s: float) -> None:
    while sum(process.cpu_times()[:2]) < cpu_s:
        time.sleep(0.05)


def _machine_busy_s(start: tuple, end: tuple) -> float:
    (machine0, _), (machine1, _) = start, end
    delta = {f: getattr(machine1, f) - getattr(machine0, f) for f in machine0._fields}
    idle = delta["idle"] + delta.get("iowait", 0.0) + delta.get("steal", 0.0)
    return sum(delta.values()) - idle - delta.get("guest", 0.0) - delta.get("guest_nice", 0.0)


def test_another_process_is_counted_and_this_one_is_not() -> None:
    """Holds on a busy machine too: the bounds are the child's and this process's own CPU
    time in the same window, not a quiet machine."""
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=_spin, args=(30.0,))
    child.start()
    try:
        spinner = psutil.Process(child.pid)
        _wait_until_busy(spinner, 0.1)  # the child is up and spinning
        with Monitor(interval_s=0.05) as monitor:  # this process idles meanwhile
            child_start = sum(spinner.cpu_times()[:2])
            _wait_until_busy(spinner, child_start + 0.3)  # however busy the machine is
            child_s = sum(spinner.cpu_times()[:2]) - child_start
        start = CpuShare.reading(psutil.Process())
        cpu_start = time.process_time()
        while time.process_time() - cpu_start < 0.3:  # this process is busy too
            pass
        end = CpuShare.reading(psutil.Process())
    finally:
        child.terminate()
        child.join()
    share = monitor.cpu_share
    other_s = share.other_pct / 100 * share.total_s
    # The spinning child's CPU time is part of what other processes took.
    assert other_s >= child_s - TICK_S
    assert 0 <= monitor.summary()["monitor.steal_pct"] < 100

    own = CpuShare.between(start, end)
    own_s = sum(end[1][:2]) - sum(start[1][:2])
    assert own_s > 2 * TICK_S
    # This process's own CPU time is not counted as others': others + own = machine busy.
    assert own.other_pct / 100 * own.total_s + own_s <= _machine_busy_s(start, end) + TICK_S


def test_noise_probe_times_identical_blocks() -> None:
    floor = probe_noise(seconds=1.0, block_s=0.1)
    assert floor.blocks == 5
    assert floor.compute_cv >= 0 and floor.memory_cv >= 0  # any spread: the machine may be busy
    assert floor.cv == max(floor.compute_cv, floor.memory_cv)
    assert 0 < floor.memory_gb_s < 2000  # a 64 MB copy cannot beat cache bandwidth
    assert 0 <= floor.other_cpu_pct <= 100 and 0 <= floor.steal_pct <= 100
    with pytest.raises(ValueError, match="at least two blocks"):
        probe_noise(seconds=0.3, block_s=0.1)
