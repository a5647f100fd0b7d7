"""A clock that moves only when told, and a pipeline of known cost timed on it: timing tests
that give exact figures however busy the machine is."""

from __future__ import annotations

import torch

from avbench.pipelines.base import Pipeline, Stage


class FakeClock:
    """Nanoseconds that move only by ``advance(ms)`` (and ``tick_ns`` per read, to let a
    busy-wait on it end); ``reads`` counts the reads."""

    def __init__(self, tick_ns: int = 0) -> None:
        self.now_ns = 0
        self.tick_ns = tick_ns
        self.reads = 0

    def __call__(self) -> int:
        self.reads += 1
        self.now_ns += self.tick_ns
        return self.now_ns

    def advance(self, ms: float) -> None:
        self.now_ns += round(ms * 1e6)


class KnownCostPipeline(Pipeline):
    """Stages of known cost on a fake clock: each moves the clock by its milliseconds and
    doubles the signal; the pipeline is timed on that clock."""

    def __init__(self, costs_ms: dict[str, float], clock: FakeClock | None = None,
                 neural: tuple[str, ...] = ()) -> None:
        super().__init__(torch.device("cpu"), sample_rate=100)
        self.clock = clock or FakeClock()
        self.use_clock(self.clock)
        self.stages = [Stage(name, self._make(ms), components=("model",) if name in neural
                             else ()) for name, ms in costs_ms.items()]

    def _make(self, ms: float):
        def stage(state):
            self.clock.advance(ms)
            state["output"] = state.get("output", state["input"]) * 2

        return stage
