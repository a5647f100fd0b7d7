"""A pipeline made of the user's own modules: what ``avbench.benchmark`` runs.

Each named module (or plain callable) is one stage holding one component of the same
name. The first stage gets the example inputs; every later stage gets the outputs of the
one before (a tuple is spread over its arguments). A stage's outputs are kept in the
state under its name (``<name>_<i>`` for each tensor of a tuple), so the parity gate
compares every stage with the fp32 eager reference. The example inputs have fixed
shapes, so exported graphs and engines are built for exactly those shapes.

The modules reach the pipeline through a process-local registry, keyed by a digest of
their weights and the example inputs: ``pipeline.model=<key>``. Each pipeline built from
a key holds its own deep copy, so the run's copy (cast to the run's dtype, exported,
compiled) and the fp32 reference never share state with each other or with the caller.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from avbench.pipelines.base import Component, Pipeline, PipelineOutput, Stage, State

Models = nn.Module | Callable[..., Any] | Mapping[str, Any] | Sequence[tuple[str, Any]]


@dataclass(frozen=True)
class Registered:
    modules: dict[str, nn.Module]
    example_inputs: tuple[Any, ...]


REGISTRY: dict[str, Registered] = {}


class CallableModule(nn.Module):
    """A plain callable as a module, so a backend can trace and export it."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *inputs: Any) -> Any:
        return self.fn(*inputs)


def named_modules(models: Models, name: str = "model") -> dict[str, nn.Module]:
    """``{stage name: module}`` from one module or callable, a dict, or (name, module) pairs."""
    if isinstance(models, Mapping):
        pairs = list(models.items())
    elif isinstance(models, Sequence) and not isinstance(models, nn.Module):
        pairs = list(models)
    else:
        pairs = [(name, models)]
    if not pairs:
        raise ValueError("no model given: pass a module, a callable, a dict name -> module or "
                         "a list of (name, module) pairs")
    out: dict[str, nn.Module] = {}
    for stage, model in pairs:
        if not callable(model):
            raise TypeError(f"stage {stage!r} is a {type(model).__name__}, not a module or "
                            "callable")
        if stage in out or stage in ("input", "next", "output", "total") or "." in str(stage):
            raise ValueError(f"stage name {stage!r} is used twice, reserved or has a dot "
                             "(metric names are dotted paths); rename it")
        out[str(stage)] = model if isinstance(model, nn.Module) else CallableModule(model)
    return out


def register(key: str, models: Models, example_inputs: tuple[Any, ...],
             name: str = "model") -> str:
    """Make ``models`` buildable as ``ModulePipeline(model=key)`` in this process."""
    REGISTRY[key] = Registered(named_modules(models, name), tuple(example_inputs))
    return key


def describe_example(key: str) -> str:
    """The registered example inputs as a run prints them: ``a tensor (1, 80, 430)
    float32``, ``2 inputs: (1, 80, 40) float32, (1,) int64``."""
    if key not in REGISTRY:
        raise KeyError(f"pipeline.model={key!r} is not registered in this process; models "
                       "are benchmarked through avbench.benchmark(...)")
    shapes = [f"{tuple(x.shape)} {str(x.dtype).removeprefix('torch.')}"
              if isinstance(x, torch.Tensor) else type(x).__name__
              for x in REGISTRY[key].example_inputs]
    return (f"a tensor {shapes[0]}" if len(shapes) == 1 and "(" in shapes[0]
            else f"{len(shapes)} inputs: {', '.join(shapes)}")


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _cast(value: Any, device: torch.device, dtype: torch.dtype) -> Any:
    """Floating tensors to the run's dtype, every tensor to its device; others unchanged."""
    if isinstance(value, torch.Tensor):
        return value.to(device, dtype) if value.is_floating_point() else value.to(device)
    return value


class ModulePipeline(Pipeline):
    """The registered modules of ``model`` as stages, in their order."""

    name = "model"
    audio_keys: frozenset[str] = frozenset()

    def __init__(self, model: str, sample_rate: int = 22050,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                 name: str = "model") -> None:
        super().__init__(torch.device(device), sample_rate)
        if model not in REGISTRY:
            raise KeyError(f"pipeline.model={model!r} is not registered in this process; "
                           "models are benchmarked through avbench.benchmark(...)")
        self.name, self.dtype = name, dtype
        registered = REGISTRY[model]
        modules = {stage: copy.deepcopy(module).to(self.device, dtype).eval().requires_grad_(False)
                   for stage, module in registered.modules.items()}
        self.example = tuple(_cast(x, self.device, dtype) for x in registered.example_inputs)
        inputs = self._stage_inputs(modules)
        for stage, module in modules.items():
            self.components[stage] = Component(stage, module, _fixed(inputs[stage]))
            self.stages.append(Stage(stage, self._make(stage), (stage,),
                                     self._output_keys(stage, inputs)))

    def _stage_inputs(self, modules: dict[str, nn.Module]) -> dict[str, tuple[Any, ...]]:
        """Each stage's inputs on the example (one untimed pass), and the final outputs."""
        inputs: dict[str, tuple[Any, ...]] = {}
        current = self.example
        with torch.no_grad():  # not inference mode: an exporter traces these tensors later
            for stage, module in modules.items():
                inputs[stage] = current
                try:
                    current = _as_tuple(module(*current))
                except Exception as error:
                    raise RuntimeError(f"stage {stage!r} failed on the example inputs: "
                                       f"{type(error).__name__}: {error}") from error
        inputs["output"] = current
        return inputs

    def _output_keys(self, stage: str, inputs: dict[str, tuple[Any, ...]]) -> tuple[str, ...]:
        names = list(inputs)
        produced = inputs[names[names.index(stage) + 1]]
        if len(produced) == 1:
            return (stage,) if isinstance(produced[0], torch.Tensor) else ()
        return tuple(f"{stage}_{i}" for i, value in enumerate(produced)
                     if isinstance(value, torch.Tensor))

    def _make(self, stage: str) -> Callable[[State], None]:
        def run(state: State) -> None:
            outputs = _as_tuple(self.components[stage](*state["next"]))
            state["next"] = outputs
            if len(outputs) == 1:
                state[stage] = outputs[0]
            else:
                state |= {f"{stage}_{i}": value for i, value in enumerate(outputs)}

        return run

    def initial_state(self, audio: torch.Tensor) -> State:
        """The example inputs, not the run's audio: the audio only sets the RTF's duration."""
        return {"input": audio, "next": self.example}

    def finish(self, state: State) -> PipelineOutput:
        first = next((v for v in state["next"] if isinstance(v, torch.Tensor)), None)
        output = first.detach().float() if first is not None else torch.zeros(0)
        return PipelineOutput(audio=output, sample_rate=self.sample_rate, state=state)

    def describe(self) -> dict[str, Any]:
        return {"parameters": {name: sum(p.numel() for p in c.module.parameters())
                               for name, c in self.components.items()}}


def _fixed(inputs: tuple[Any, ...]) -> Callable[[int], tuple[Any, ...]]:
    """Example inputs for export and engine profiles: the example's own, whatever the length."""
    return lambda frames: inputs
