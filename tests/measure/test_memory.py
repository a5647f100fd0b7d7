"""This run's own peak memory: windows reset on Linux, real allocations, no inheritance."""

from __future__ import annotations

import mmap
import sys

import numpy as np
import pytest
import torch

from avbench.measure import memory
from avbench.measure.clock import CpuClock
from avbench.measure.nvml import process_memory_mb

MB = 2**20
needs_linux_reset = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and memory.can_reset_rss_peak()),
    reason="resetting the peak RSS needs Linux's /proc/self/clear_refs")


def touched(mb: int) -> mmap.mmap:
    """``mb`` MiB of anonymous memory, every page written (resident until closed)."""
    block = mmap.mmap(-1, mb * MB)
    view = np.frombuffer(block, dtype=np.uint8)
    view[:] = 1
    del view  # the mapping can be closed only once nothing views it
    return block


@needs_linux_reset
def test_each_window_has_its_own_peak_and_the_run_keeps_the_largest() -> None:
    peaks = memory.tracker(torch.device("cpu"))
    assert peaks.method == memory.TAG_HWM
    peaks.start_run()
    before = peaks.window()
    block = touched(200)
    block.close()  # gone again before the window is read: only the high-water mark saw it
    during = peaks.window()
    after = peaks.window()
    assert during >= before + 190
    assert after <= during - 150  # the next window does not inherit the earlier peak
    assert peaks.run_peak() >= during
    peaks.start_run()  # a new run forgets the old one's peak
    assert peaks.run_peak() <= during - 150


@needs_linux_reset
@needs_linux_reset
def test_added_memory_leaves_out_what_the_process_already_held() -> None:
    """An earlier cell of an in-process sweep left 300 MiB held: the process's peak holds
    them, the run's added memory does not."""
    peaks = memory.tracker(torch.device("cpu"))
    left_behind = touched(300)
    try:
        peaks.start_run()
        block = touched(100)
        block.close()
        peaks.window()
        added, peak = peaks.run_added(), peaks.run_peak()
    finally:
        left_behind.close()
    assert 95 <= added < 150  # the run's 100 MiB (plus what numpy's view itself took)
    assert peak >= added + 300


def test_stage_peaks_of_the_cpu_clock_are_per_stage() -> None:
    clock = CpuClock()
    clock.start()
    touched(150).close()
    clock.mark("big")
    clock.restart_stage()
    clock.mark("small")
    stages = clock.memory_mb()
    assert stages["big"] >= stages["small"] + 120


def test_cpu_has_no_device_memory_figures() -> None:
    assert memory.device_memory(torch.device("cpu")) == {}
    assert memory.device_memory(torch.device("cpu"), process_mb=100.0) == {}


def test_the_method_says_how_memory_outside_torch_was_read() -> None:
    assert memory.outside_torch_method(512.0) == "+outside_torch_nvml_process_at_end"
    assert memory.outside_torch_method(None) == "+outside_torch_device_minus_reserved_at_end"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_windows_and_memory_outside_torch() -> None:
    device = torch.device("cuda")
    peaks = memory.tracker(device)
    peaks.start_run()
    block = torch.empty(256 * MB, dtype=torch.uint8, device=device)
    del block
    during = peaks.window()
    assert during >= 256 and peaks.window() < during - 200
    figures = memory.device_memory(device)
    assert figures["memory_device_used_mb"] >= figures["memory_outside_torch_mb"] > 0
    process_mb, why = process_memory_mb(0)
    assert process_mb is not None, why  # outside a container: NVML lists this process
    own = memory.device_memory(device, process_mb)
    reserved_mb = torch.cuda.memory_reserved(device) / 2**20
    assert own["memory_process_mb"] >= reserved_mb  # torch's reserve is part of it
    assert own["memory_outside_torch_mb"] == pytest.approx(process_mb - reserved_mb)
    assert own["memory_device_used_mb"] >= own["memory_process_mb"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_triton_autotuning_is_a_first_call_peak_the_run_window_leaves_out() -> None:
    """Why the prepare phase tunes the kernels: the autotuner allocates a cache-flush buffer
    through torch on a key's first call only (the first run of a process)."""
    from avbench.dsp import functional as fn
    from kernels_triton import INTERPRETED
    from kernels_triton.stft import dft_bases, stft_power

    if INTERPRETED:
        pytest.skip("the Triton interpreter does not autotune")
    device = torch.device("cuda")
    x = torch.randn(1, 12_345, device=device)
    bases = dft_bases(fn.hann_window(512, device=device))
    peaks = memory.tracker(device)
    peaks.start_run()
    stft_power(x, bases, 128)  # first call of this key: autotuned
    tuned = peaks.run_peak()
    peaks.start_run()  # what the timing phase does after prepare tuned the kernels
    stft_power(x, bases, 128)
    assert peaks.run_peak() < tuned - 100  # the flush buffer (256 MB) is gone
