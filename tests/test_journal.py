"""Exit codes and the CPU-vs-GPU speed-up of a sweep's cells."""

from __future__ import annotations

import pytest

from avbench import journal
from avbench.journal import FAILED, FINISHED, RunResult


def result(overrides: list[str], rtf: float, cuda: bool, status: str = FINISHED) -> RunResult:
    return RunResult("x", status, overrides=overrides, metrics={"rtf": rtf},
                     tags={"device": "cuda:0" if cuda else "cpu"})


def test_speedup_pairs_cpu_and_gpu_of_the_same_cell() -> None:
    results = [
        result(["gpu=cpu", "preset=fast"], 0.8, cuda=False),
        result(["preset=fast", "gpu=l4"], 0.1, cuda=True),
        result(["gpu=cpu", "preset=quality"], 2.0, cuda=False),  # no GPU twin
        result(["gpu=l4", "preset=quality"], 0.5, cuda=True, status=FAILED),
    ]
    ((cell, cpu, gpu, speedup),) = journal.cpu_gpu_speedups(results)
    assert cell == "preset=fast" and (cpu, gpu) == (0.8, 0.1)
    assert speedup == pytest.approx(8.0)


def test_exit_code_follows_failures() -> None:
    journal.record(result([], 1.0, cuda=False))
    assert journal.exit_code() == 0
    journal.record(result([], 1.0, cuda=False, status=FAILED))
    assert journal.exit_code() == 1
