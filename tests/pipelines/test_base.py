"""The profiling_callback contract of Pipeline.run, timed on a fake clock (exact figures)."""

from __future__ import annotations

import logging

import pytest
import torch

from avbench.pipelines.base import Component, Pipeline, Stage
from tests.measure.fake_clock import FakeClock, KnownCostPipeline

COSTS = {"a": 20.0, "b": 5.0, "c": 40.0}
CALLBACK_MS = 1.5  # what the test's callback costs each time it is called


def test_callback_gets_every_stage_then_total() -> None:
    pipe = KnownCostPipeline(COSTS)
    calls: list[tuple[str, float]] = []

    def callback(stage: str, ms: float) -> None:
        calls.append((stage, ms))
        pipe.clock.advance(CALLBACK_MS)

    out = pipe.run(torch.ones(4), profiling_callback=callback)
    assert [name for name, _ in calls] == ["a", "b", "c", "total"]
    assert torch.equal(out.audio, torch.full((4,), 8.0))
    timed = dict(calls)
    # Each stage is exactly its cost: the callback after it is not charged to the next one.
    assert {name: timed[name] for name in COSTS} == COSTS
    # The total is read from the clock, not summed from the stages: it holds what ran
    # between them (the callbacks after a and b; the one after c comes after the last mark).
    assert timed["total"] == pytest.approx(sum(COSTS.values()) + 2 * CALLBACK_MS, abs=1e-9)


def test_callback_exception_is_logged_and_run_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def flaky(stage: str, ms: float) -> None:
        seen.append(stage)
        if stage == "b":
            raise RuntimeError("callback broke")

    with caplog.at_level(logging.WARNING):
        out = KnownCostPipeline({"a": 1, "b": 1, "c": 1}).run(torch.ones(2),
                                                               profiling_callback=flaky)
    assert seen == ["a", "b", "c", "total"]
    assert torch.equal(out.audio, torch.full((2,), 8.0))
    assert "profiling callback failed for stage 'b'" in caplog.text


def test_no_callback_reads_no_clock() -> None:
    pipe = KnownCostPipeline({"a": 0, "b": 0})
    out = pipe.run(torch.ones(1))
    assert pipe.clock.reads == 0
    assert torch.equal(out.audio, torch.full((1,), 4.0))
    pipe.run(torch.ones(1), profiling_callback=lambda *_: None)
    assert pipe.clock.reads > 0


class Costly(torch.nn.Module):
    """A component of known cost on a fake clock."""

    def __init__(self, clock: FakeClock, ms: float) -> None:
        super().__init__()
        self.clock, self.ms = clock, ms

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.clock.advance(self.ms)
        return x + 1


def test_component_time_is_reported_for_timed_runs_only() -> None:
    clock = FakeClock()
    pipe = Pipeline(torch.device("cpu"), sample_rate=100)
    pipe.use_clock(clock)
    pipe.components = {name: Component(name, Costly(clock, ms), lambda n: (torch.zeros(n),))
                       for name, ms in (("fast", 2.0), ("slow", 15.0))}

    def stage(state):
        clock.advance(10.0)  # the stage's own (non-component) work
        x = pipe.components["fast"](state["input"])
        state["output"] = pipe.components["slow"](pipe.components["fast"](x))

    pipe.stages = [Stage("only", stage, ("fast", "slow"))]
    calls: list[tuple[str, float]] = []
    out = pipe.run(torch.zeros(3), profiling_callback=lambda s, ms: calls.append((s, ms)))
    assert torch.equal(out.audio, torch.full((3,), 3.0))
    assert dict(calls)["only"] == 29.0
    assert out.component_ms == {"fast": 4.0, "slow": 15.0}  # two calls of 2 ms, summed
    assert all(c.timer is None for c in pipe.components.values())  # detached after the run
    assert pipe.run(torch.zeros(3)).component_ms == {}  # no callback: nothing timed
