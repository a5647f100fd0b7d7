"""The profiling_callback contract of Pipeline.run."""

from __future__ import annotations

import logging
import time

import pytest
import torch

from avbench.measure import clock
from avbench.pipelines.base import Pipeline, Stage


class SleepyPipeline(Pipeline):
    """Stages of known cost: each sleeps a fixed time and doubles the signal."""

    def __init__(self, sleeps_ms: dict[str, float]) -> None:
        super().__init__(torch.device("cpu"), sample_rate=100)
        self.stages = [Stage(name, self._make(ms)) for name, ms in sleeps_ms.items()]

    @staticmethod
    def _make(ms: float):
        def stage(state):
            time.sleep(ms / 1000)
            state["output"] = state.get("output", state["input"]) * 2

        return stage


SLEEPS = {"a": 20.0, "b": 5.0, "c": 40.0}


def test_callback_gets_every_stage_then_total() -> None:
    calls: list[tuple[str, float]] = []
    out = SleepyPipeline(SLEEPS).run(torch.ones(4), profiling_callback=lambda s, ms: calls.append((s, ms)))
    assert [name for name, _ in calls] == ["a", "b", "c", "total"]
    assert torch.equal(out.audio, torch.full((4,), 8.0))
    timed = dict(calls)
    for name, ms in SLEEPS.items():
        assert ms <= timed[name] < ms + 30, (name, timed[name])
    # The stages tile the total: none overlaps another or falls outside it, and what is
    # between them (the marks, the callbacks) is small. The slack is a busy machine's.
    stage_sum = sum(timed[name] for name in SLEEPS)
    assert stage_sum <= timed["total"] + 1e-3
    assert timed["total"] - stage_sum < 30


def test_callback_exception_is_logged_and_run_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def flaky(stage: str, ms: float) -> None:
        seen.append(stage)
        if stage == "b":
            raise RuntimeError("callback broke")

    with caplog.at_level(logging.WARNING):
        out = SleepyPipeline({"a": 1, "b": 1, "c": 1}).run(torch.ones(2), profiling_callback=flaky)
    assert seen == ["a", "b", "c", "total"]
    assert torch.equal(out.audio, torch.full((2,), 8.0))
    assert "profiling callback failed for stage 'b'" in caplog.text


def test_no_callback_reads_no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    real = time.perf_counter_ns
    monkeypatch.setattr(clock.time, "perf_counter_ns", lambda: reads.append(1) or real())
    out = SleepyPipeline({"a": 0, "b": 0}).run(torch.ones(1))
    assert reads == []
    assert torch.equal(out.audio, torch.full((1,), 4.0))
    SleepyPipeline({"a": 0, "b": 0}).run(torch.ones(1), profiling_callback=lambda *_: None)
    assert len(reads) > 0


class Sleep(torch.nn.Module):
    """A component of known cost."""

    def __init__(self, ms: float) -> None:
        super().__init__()
        self.ms = ms

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.ms / 1000)
        return x + 1


def test_component_time_is_reported_for_timed_runs_only() -> None:
    from avbench.pipelines.base import Component

    pipe = Pipeline(torch.device("cpu"), sample_rate=100)
    pipe.components = {name: Component(name, Sleep(ms), lambda n: (torch.zeros(n),))
                       for name, ms in (("fast", 2.0), ("slow", 15.0))}

    def stage(state):
        time.sleep(0.01)  # the stage's own (non-component) work
        x = pipe.components["fast"](state["input"])
        state["output"] = pipe.components["slow"](pipe.components["fast"](x))

    pipe.stages = [Stage("only", stage, ("fast", "slow"))]
    calls: list[tuple[str, float]] = []
    out = pipe.run(torch.zeros(3), profiling_callback=lambda s, ms: calls.append((s, ms)))
    assert torch.equal(out.audio, torch.full((3,), 3.0))
    stage_ms = dict(calls)["only"]
    assert set(out.component_ms) == {"fast", "slow"}
    assert 4.0 <= out.component_ms["fast"] < stage_ms  # two calls of >= 2 ms, summed
    assert 15.0 <= out.component_ms["slow"] < stage_ms
    assert out.component_ms["fast"] + out.component_ms["slow"] <= stage_ms - 10.0 + 1.0
    assert all(c.timer is None for c in pipe.components.values())  # detached after the run
    assert pipe.run(torch.zeros(3)).component_ms == {}  # no callback: nothing timed
