"""The types one benchmark run's phases share, in one small module.

``phases/`` sequences a run; ``load/`` (scenarios) and ``evaluators/`` plug into it. All
three import these types from here, so none of them imports another's internals and the
import graph stays one-way (tests/test_layers.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from omegaconf import DictConfig

from avbench.audio.synth import TestSong
from avbench.measure.timer import StageTimes
from avbench.pipelines.base import Pipeline, PipelineOutput
from avbench.tracking.logger import RunLogger


@dataclass
class RunContext:
    """One run's settings as the phases see them; ``metrics`` collects every phase's figures."""

    cfg: DictConfig
    logger: RunLogger
    out_dir: Path
    name: str
    device: torch.device
    dtype: torch.dtype
    kernel: str
    cache_dir: Path  # assets: songs, voice profiles, weights
    backend_cache: Path  # exported graphs, engines, parity references
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    parity_failures: list[str] | None = None  # None: not checked
    # Builds the fp32 eager reference of this run's pipeline (set by the build phase): what
    # the parity gate and the side-by-side timing compare against.
    build_reference: Callable[[], Pipeline] | None = None

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.tags.update({str(k): str(v) for k, v in tags.items()})
        self.logger.set_tags(tags)

    def reference_builder(self) -> Callable[[], Pipeline]:
        if self.build_reference is None:
            raise RuntimeError("the build phase has not set ctx.build_reference")
        return self.build_reference


@dataclass
class RunInput:
    """The input on the run's device, its length, and the synthetic song it came from
    (stems and F0 labels), if any. A text pipeline's input is its first utterance as UTF-8
    bytes (``audio.texts.encode_text``), ``texts`` all of them, and ``duration_s`` 0 (the
    length of speech is known once it is synthesised)."""

    audio: torch.Tensor
    duration_s: float
    song: TestSong | None = None
    texts: list[str] | None = None


@dataclass
class Measurement:
    """What a scenario measured: figures, per-repeat series, the last output to evaluate."""

    metrics: dict[str, float]
    output: PipelineOutput | None = None
    times: StageTimes | None = None
    series: dict[str, list[float]] = field(default_factory=dict)
    artifacts: list[Path] = field(default_factory=list)  # e.g. LoadGen's logs
    lines: list[tuple[str, str]] = field(default_factory=list)  # console summary of a load run


class Scenario(Protocol):
    """A load shape of the measure phase: drives the prepared pipeline, returns what it
    measured."""

    name: str

    def run(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput) -> Measurement: ...


class Evaluator(Protocol):
    """One figure (or a few) computed from a measured run's output, after timing."""

    name: str
    depends_on: tuple[str, ...]  # components whose weights the figure depends on

    def applies(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                measured: Measurement) -> bool: ...

    def evaluate(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput,
                 measured: Measurement) -> dict[str, float]: ...
