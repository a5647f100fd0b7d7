"""The verdict on a synthetic slow loader and a synthetic slow step, measured by run_epoch."""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch

from avbench.data.probe import run_epoch
from avbench.data.verdict import verdict

CPU = torch.device("cpu")


def _batches(n: int, delay_s: float) -> Iterator[dict]:
    batches = [{"ids": ["a", "b"], "audio_s": torch.tensor([1.0, 2.0])} for _ in range(n)]
    for batch in batches:
        if delay_s:
            time.sleep(delay_s)  # the loader's work
        yield batch


def _step(delay_s: float):
    return lambda batch: time.sleep(delay_s)


def test_slow_loader_is_the_bottleneck() -> None:
    stats = run_epoch(_batches(5, 0.2), _step(0.001), CPU)
    assert stats.samples == 10 and stats.audio_s == 15.0
    assert stats.wait_pct > 50
    judged = verdict(stats.wait_pct, "npy", workers=0, prefetch=2, cores=2)
    assert judged.bottleneck == "loader" and "loader=mmap" in judged.recommendation
    judged = verdict(stats.wait_pct, "mmap", workers=0, prefetch=2, cores=4)
    assert "data.workers=1" in judged.recommendation
    judged = verdict(stats.wait_pct, "mmap", workers=3, prefetch=2, cores=4)
    assert "data.prefetch=4" in judged.recommendation
    assert "loader=mmap" in verdict(stats.wait_pct, "naive", 0, 2, 2).recommendation


def test_slow_step_is_the_bottleneck() -> None:
    # The step sleeps 1 s in all; the loader hands over ready batches (a busy machine may
    # still deschedule it for a moment, far below the 10 % threshold's 100 ms).
    stats = run_epoch(_batches(5, 0.0), _step(0.2), CPU)
    assert stats.wait_pct < 10
    assert len(stats.step_ms) == 5 and min(stats.step_ms) >= 200
    judged = verdict(stats.wait_pct, "naive", workers=0, prefetch=2, cores=2)
    assert judged.bottleneck == "compute"


def test_loader_alone_has_no_step_times() -> None:
    stats = run_epoch(_batches(3, 0.0), None, CPU)
    assert stats.step_ms == [] and stats.samples == 6 and stats.samples_per_s > 0
    assert "main" in stats.cpu_pct
