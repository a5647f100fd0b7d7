"""The run against fp32 eager PyTorch, interleaved in one process.

Two runs of a sweep happen seconds apart, so a slow period of a shared machine
can land on one and not the other. Here the run's pipeline and the fp32 eager
reference pipeline (the parity gate's: float32, eager PyTorch, the torch DSP
kernels) take turns, pair after pair, so slow periods hit both alike, and the
speed-up comes with a bootstrap confidence interval
(``avbench.measure.stats.speedup``). The order alternates pair by pair
(ABBA: eager then run, run then eager, ...), so a side that gains from going
first (or second: caches, clocks, the allocator) gains in half the pairs only.
``bench.eager_side_by_side=N`` turns it on with N pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from avbench import console
from avbench.measure.stats import Speedup, speedup
from avbench.measure.timer import TOTAL
from avbench.pipelines.base import Pipeline


@dataclass(frozen=True)
class SideBySide:
    pairs: int
    total: Speedup
    neural: Speedup | None  # None when the pipeline has no neural stage
    eager_ms: float  # median total of the eager reference
    run_ms: float  # median total of this run's pipeline

    def metrics(self) -> dict[str, float]:
        out = {"vs_eager.eager_ms": self.eager_ms, "vs_eager.run_ms": self.run_ms}
        for name, value in (("total", self.total), ("neural", self.neural)):
            if value is not None:
                out |= {f"vs_eager.{name}_speedup": value.ratio,
                        f"vs_eager.{name}_speedup.ci_low": value.ci_low,
                        f"vs_eager.{name}_speedup.ci_high": value.ci_high}
        return out


def _timed_run(pipe: Pipeline, audio: torch.Tensor, neural: list[str]) -> tuple[float, float]:
    """Total and neural-stage milliseconds of one run."""
    stage_ms: dict[str, float] = {}

    def record(stage: str, elapsed_ms: float) -> None:
        stage_ms[stage] = elapsed_ms

    pipe.run(audio, profiling_callback=record)
    return stage_ms[TOTAL], sum(stage_ms[name] for name in neural)


def pair_order(index: int) -> tuple[str, str]:
    """Which side goes first in pair ``index`` (0-based): eager, run, run, eager, ..."""
    return ("eager", "run") if index % 2 == 0 else ("run", "eager")


def side_by_side(run_pipe: Pipeline, build_eager: Callable[[], Pipeline], audio: torch.Tensor,
                 pairs: int) -> SideBySide:
    """``pairs`` pairs of runs of the eager reference and ``run_pipe``, in ABBA order
    (``pair_order``), after one untimed call of the fresh reference, its cold start."""
    if pairs < 2:
        raise ValueError(f"bench.eager_side_by_side needs at least 2 pairs, got {pairs}")
    eager = build_eager()
    eager.run(audio)
    neural = [stage.name for stage in run_pipe.stages if stage.components]
    pipes = {"eager": eager, "run": run_pipe}
    samples: dict[str, list[tuple[float, float]]] = {"eager": [], "run": []}
    with console.repeat_progress(pairs, label="vs eager") as advance:
        for index in range(pairs):
            for side in pair_order(index):
                samples[side].append(_timed_run(pipes[side], audio, neural))
            advance(index + 1, pairs)
    eager_ms, run_ms = (np.asarray(samples[side]) for side in ("eager", "run"))
    return SideBySide(
        pairs=pairs, total=speedup(eager_ms[:, 0], run_ms[:, 0]),
        neural=speedup(eager_ms[:, 1], run_ms[:, 1]) if neural else None,
        eager_ms=float(np.median(eager_ms[:, 0])), run_ms=float(np.median(run_ms[:, 0])))
