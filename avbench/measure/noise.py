"""The machine's own timing noise: the spread of a fixed, allocation-free piece of work.

A benchmark run cannot be steadier than the machine under it. This probe times
identical blocks of matrix multiplies and of memory copies, interleaved, on the
threads a run would use and reports each kind's coefficient of variation, with
the share of CPU time that other processes and the hypervisor (steal) took
meanwhile. ``task=doctor`` shows it next to ``validity.max_cv``, so a user knows
before a sweep whether its spread will come from the code or from the machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import psutil
import torch

from avbench.measure.monitor import CpuShare

MATRIX = 256  # fits in L2 with its output: these blocks measure the cores
STREAM_MB = 64  # far beyond any last-level cache: these blocks measure memory bandwidth


@dataclass(frozen=True)
class NoiseFloor:
    """Spread of identical compute blocks and identical memory-streaming blocks, interleaved.

    They are told apart because they differ: on a shared host, neighbours contend for
    memory bandwidth more than for cores (measured on a 2-vCPU VM: compute CV 5-6 %,
    streaming CV 13-23 % in the same seconds).
    """

    blocks: int  # of each kind
    compute_cv: float
    memory_cv: float
    memory_gb_s: float  # median copy bandwidth (read + write)
    other_cpu_pct: float
    steal_pct: float

    @property
    def cv(self) -> float:
        return max(self.compute_cv, self.memory_cv)


def _timed(work: Callable[[], object], times: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(times):
        work()
    return (time.perf_counter_ns() - start) / 1e9


def _calibrated(work: Callable[[], object], block_s: float) -> int:
    """How many calls of ``work`` take about ``block_s`` (after a warm-up)."""
    _timed(work, 2)
    probe = 3
    while (spent := _timed(work, probe)) < 0.02:
        probe *= 4
    return max(1, round(block_s * probe / spent))


def probe_noise(seconds: float = 3.0, block_s: float = 0.25, seed: int = 0) -> NoiseFloor:
    """Alternate identical compute and memory blocks of about ``block_s`` for ``seconds``."""
    pairs = round(seconds / (2 * block_s))
    if pairs < 2:
        raise ValueError(f"the noise probe needs at least two blocks of each kind: "
                         f"seconds={seconds} < 4 x block_s={block_s}")
    generator = torch.Generator().manual_seed(seed)
    a = torch.rand(MATRIX, MATRIX, generator=generator)
    product = torch.empty_like(a)
    source = torch.rand(STREAM_MB * 2**18, generator=generator)  # float32: 4 bytes each
    target = torch.empty_like(source)

    def compute() -> object:
        return torch.mm(a, a, out=product)

    def stream() -> object:
        return target.copy_(source)

    n_compute, n_stream = _calibrated(compute, block_s), _calibrated(stream, block_s)
    process = psutil.Process()
    start = CpuShare.reading(process)
    compute_s, stream_s = [], []
    for _ in range(pairs):
        compute_s.append(_timed(compute, n_compute))
        stream_s.append(_timed(stream, n_stream))
    share = CpuShare.between(start, CpuShare.reading(process))
    compute_arr, stream_arr = np.asarray(compute_s), np.asarray(stream_s)
    moved_gb = 2 * STREAM_MB / 1024 * n_stream
    return NoiseFloor(blocks=pairs, compute_cv=_cv(compute_arr), memory_cv=_cv(stream_arr),
                      memory_gb_s=float(moved_gb / np.median(stream_arr)),
                      other_cpu_pct=share.other_pct, steal_pct=share.steal_pct)


def _cv(samples: np.ndarray) -> float:
    return float(np.std(samples, ddof=1) / np.mean(samples))
