"""Stages, the pipeline that runs them, and the profiling-callback contract.

``Pipeline.run(audio, profiling_callback=None)`` calls
``profiling_callback(stage_name, elapsed_ms)`` after every stage and once
with ``"total"``. An exception raised by the callback is logged and the run
goes on. Without a callback no clock is read at all. On the CPU each stage
is reported as soon as it ends; on CUDA the stages are timed with events and
reported, in order, after the run's single synchronisation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from avbench.measure.clock import ClockNs, StageClock, stage_clock
from avbench.measure.component_timer import ComponentTimer

log = logging.getLogger(__name__)

ProfilingCallback = Callable[[str, float], None]
State = dict[str, Any]
TOTAL = "total"


@dataclass(frozen=True)
class FrameRange:
    """Frame counts an engine must accept (a backend's profile; a pipeline may give its own): smallest, the one to tune for, largest."""

    min: int
    opt: int
    max: int

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise ValueError(f"need 1 <= min <= opt <= max frames, got {self}")


@dataclass
class Component:
    """A neural part of a stage: its module, example inputs and their names.

    ``example_inputs(frames)`` builds inputs for ``frames`` frames (export,
    engine profiles, parity). ``run`` is what the stage calls; a backend may
    replace it with an exported or compiled callable of the same signature.
    """

    name: str
    module: nn.Module
    example_inputs: Callable[[int], tuple[torch.Tensor, ...]]
    input_names: tuple[str, ...] = ()
    run: Callable[..., torch.Tensor] | None = None
    timer: ComponentTimer | None = None  # set by Pipeline during a timed run

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        fn = self.module if self.run is None else self.run
        if self.timer is None:
            return fn(*inputs)
        return self.timer.call(self.name, fn, *inputs)


@dataclass
class Stage:
    """A named step: reads what earlier stages left in the state, adds its own."""

    name: str
    fn: Callable[[State], None]
    components: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()  # state keys that are this stage's result (parity compares them)


@dataclass
class PipelineOutput:
    audio: torch.Tensor
    sample_rate: int
    state: State = field(default_factory=dict)
    stage_memory_mb: dict[str, float] = field(default_factory=dict)
    component_ms: dict[str, float] = field(default_factory=dict)  # timed runs only


class Pipeline:
    """Runs its stages in order on one input; subclasses build stages and components."""

    name: str = "pipeline"
    # State keys holding waveforms (the parity gate reports SNR for these).
    audio_keys: frozenset[str] = frozenset({"output"})
    # Every stage reads its inputs from named state keys (tensors), so the parity gate can
    # feed each stage the reference's inputs and hold it to its own error alone.
    parity_by_stage: bool = False
    # Stage -> the field whose measures judge it when its components have real weights
    # (vocoder | tts | separation | f0: avbench/evaluators/quality_gate.py).
    quality_fields: ClassVar[Mapping[str, str]] = {}

    def __init__(self, device: torch.device, sample_rate: int) -> None:
        self.device = device
        self.sample_rate = sample_rate
        self.stages: list[Stage] = []
        self.components: dict[str, Component] = {}
        self._clock: StageClock | None = None
        self._component_timer = ComponentTimer(device)

    def use_clock(self, clock_ns: ClockNs) -> None:
        """Time CPU runs (stages, total, components) with ``clock_ns`` instead of
        ``perf_counter_ns``: a fake clock makes timing tests exact on a busy machine."""
        self._clock = stage_clock(self.device, clock_ns)
        self._component_timer = ComponentTimer(self.device, clock_ns)

    @property
    def stage_names(self) -> list[str]:
        return [stage.name for stage in self.stages]

    def initial_state(self, audio: torch.Tensor) -> State:
        return {"input": audio}

    def finish(self, state: State) -> PipelineOutput:
        return PipelineOutput(audio=state["output"], sample_rate=self.sample_rate, state=state)

    def run(
        self, audio: torch.Tensor, profiling_callback: ProfilingCallback | None = None
    ) -> PipelineOutput:
        """Run every stage on ``audio`` (samples,) at ``self.sample_rate``."""
        with torch.inference_mode():
            state = self.initial_state(audio)
            if profiling_callback is None:
                for stage in self.stages:
                    stage.fn(state)
                return self.finish(state)
            return self._run_timed(state, profiling_callback)

    def _run_timed(self, state: State, callback: ProfilingCallback) -> PipelineOutput:
        if self._clock is None:
            self._clock = stage_clock(self.device)
        clock, timer = self._clock, self._component_timer
        timer.reset()
        for component in self.components.values():
            component.timer = timer
        try:
            clock.start()
            for stage in self.stages:
                stage.fn(state)
                elapsed_ms = clock.mark(stage.name)
                if elapsed_ms is not None:  # CPU: known now; CUDA: known after the one sync
                    _notify(callback, stage.name, elapsed_ms)
                clock.restart_stage()
            marks = clock.finish()
        finally:
            for component in self.components.values():
                component.timer = None
        for stage_name, elapsed_ms in marks:
            if stage_name == TOTAL or self.device.type == "cuda":
                _notify(callback, stage_name, elapsed_ms)
        output = self.finish(state)
        output.stage_memory_mb = clock.memory_mb()
        output.component_ms = timer.totals()
        return output

    def describe(self) -> dict[str, Any]:
        """Sizes and settings that identify what ran (logged as model.* params)."""
        return {}

    def modules(self) -> Mapping[str, nn.Module]:
        return {name: component.module for name, component in self.components.items()}


def _notify(callback: ProfilingCallback, stage_name: str, elapsed_ms: float) -> None:
    try:
        callback(stage_name, elapsed_ms)
    except Exception:
        log.warning("profiling callback failed for stage %r; the run goes on", stage_name,
                    exc_info=True)
