"""A pipeline of known cost: each stage busy-waits a set number of milliseconds.

`python -m avbench pipeline=calibration` times it like any pipeline, so the
figures show how close the harness gets to a known answer.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import torch

from avbench.pipelines.base import Pipeline, Stage, State


def busy_wait_ms(ms: float) -> None:
    """Spin (no sleep: the scheduler's wake-up latency would add noise) for ``ms``."""
    deadline = time.perf_counter_ns() + int(ms * 1e6)
    while time.perf_counter_ns() < deadline:
        pass


class CalibrationPipeline(Pipeline):
    name = "calibration"

    def __init__(self, stage_ms: Mapping[str, float], sample_rate: int = 22050,
                 device: str | torch.device = "cpu", name: str = "calibration") -> None:
        super().__init__(torch.device(device), sample_rate)
        self.name = name
        if not stage_ms or any(ms < 0 for ms in stage_ms.values()):
            raise ValueError("pipeline.stage_ms needs at least one stage with a cost >= 0 ms")
        self.stage_ms = dict(stage_ms)
        self.stages = [Stage(stage, self._make(ms)) for stage, ms in self.stage_ms.items()]

    @staticmethod
    def _make(ms: float):
        def stage(state: State) -> None:
            busy_wait_ms(ms)
            state["output"] = state["input"]

        return stage
