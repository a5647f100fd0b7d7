"""``avbench.benchmark``: benchmark one's own model with the machinery of the command line.

    import avbench, torch
    vocoder = torch.nn.Sequential(...)
    result = avbench.benchmark(vocoder, torch.randn(1, 80, 200), backend="onnxruntime")
    print(result.metrics["rtf"], result.run_id)

The model (a module, a callable, or several named stages) is registered for this process
and run as ``pipeline=custom`` with ``avbench.pipelines.modules.ModulePipeline``: the
config is composed by Hydra from the same tree as ``python -m avbench``, and the run goes
through ``avbench.runner.run``, so warm-up, adaptive repeats, statistics, backends, the
parity gate and the MLflow record are those of any run.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from avbench.console import ms_text, sig
from avbench.measure.validity import VALID, VALIDITY_TAG, reasons_from_tags
from avbench.pipelines.modules import Models, named_modules, register

MODULE_PIPELINE = "avbench.pipelines.modules.ModulePipeline"


@dataclass
class Result:
    """What one ``benchmark`` call measured."""

    name: str
    status: str  # FINISHED or FAILED
    run_id: str | None  # the MLflow run (None with tracking="none")
    metrics: dict[str, float]
    tags: dict[str, str]
    summary: dict[str, Any] = field(default_factory=dict)  # performance_breakdown.json
    out_dir: Path | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "FINISHED"

    @property
    def validity(self) -> str | None:
        """``VALID`` or ``INVALID`` (tag ``validity``); None for a run that failed."""
        return self.tags.get(VALIDITY_TAG)

    @property
    def reasons(self) -> list[str]:
        """Why the run is INVALID (tag ``validity.reasons``); empty when VALID."""
        return reasons_from_tags(self.tags)

    @property
    def valid(self) -> bool:
        return self.validity == VALID

    def __str__(self) -> str:
        if not self.ok:
            return f"{self.name}: {self.status}: {self.error}"
        m = self.metrics
        verdict = (self.validity or "not judged") + (
            f": {'; '.join(self.reasons)}" if self.reasons else "")
        ci = (f"95% CI of RTF [{sig(m['rtf.ci_low'])}, {sig(m['rtf.ci_high'])}]"
              if "rtf.ci_low" in m else "no 95% CI from so few repeats")
        loops = int(self.tags.get("bench.loops", "1"))
        batches = f", batches of {loops:,} calls" if loops > 1 else ""
        stages = self.summary.get("stage_timings_ms", {})
        rows = [f"  {stage:<16} {ms_text(ms):>10} ms" for stage, ms in stages.items()]
        return "\n".join([f"{self.name}: {verdict}",
                          f"  RTF {sig(m['rtf'])}, {ms_text(m['total_ms'])} ms per call "
                          f"({ci}; CV {100 * m['rtf.cv']:.1f} %{batches})", *rows,
                          f"  mlflow run {self.run_id}"])


def benchmark(model: Models, example_inputs: Any, *, name: str | None = None,
              audio_s: float = 1.0, overrides: Sequence[str] = (), **options: Any) -> Result:
    """Benchmark ``model`` on ``example_inputs`` as one tracked avbench run.

    Args:
        model: an ``nn.Module`` or callable, or several stages run in order: a dict
            ``{name: module}`` or a list of ``(name, module)`` pairs. Each later stage gets
            the previous stage's output (a tuple is spread over its arguments).
        example_inputs: the first stage's input: a tensor or a tuple of them. Shapes are
            fixed: exported graphs and engines are built for these shapes.
        name: what the run's name starts with, and the stage name of a single model
            (default: the module's class or the callable's name; the stage is ``model``).
        audio_s: seconds of audio one call processes (the RTF is time per call / audio_s).
        overrides: Hydra overrides as on the command line (``"bench.min_repeats=10"``).
        **options: config groups and values: ``backend="onnxruntime"``,
            ``precision="fp16"``, ``gpu="cpu"``, ``tracking="none"``; a dict sets keys of a
            group (``bench={"min_time_s": 5}``, ``tracking={"uri": "sqlite:///x.db"}``).

    Returns:
        a :class:`Result` with the metrics, the MLflow run id and the stage summary. A run
        that fails returns ``status="FAILED"`` with the error, as a failed CLI run does.
        The run is named after the module and what differs from the defaults:
        ``Sequential-onnxruntime-5s``.
    """
    inputs = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (
        example_inputs,)
    stage = name or "model"
    label = name or module_label(model)
    key = register(model_key(model, inputs, stage), model, inputs, stage)
    given = [*option_overrides(options), *overrides]
    # Quoted: Hydra would read an all-digit key with one "e" (1234e5678...) as a float.
    cfg, hydra_cfg = compose([f"pipeline._target_={MODULE_PIPELINE}", f"+pipeline.model='{key}'",
                              "pipeline.input=example", f"pipeline.name={label}",
                              f"audio.duration_s={audio_s}", f"audio.name={audio_s:g}s", *given])
    changed = changed_settings(given, hydra_cfg.runtime.choices, default_choices())
    length = [f"{audio_s:g}s"] if audio_s != 1.0 else []
    cfg.run_name = cfg.run_name or "-".join([label, *changed, *length])
    return run(cfg, hydra_cfg)


# Keys of how a run is measured and recorded, not of what it measures: left out of names.
NOT_NAMED = ("bench", "validity", "limits", "tracking", "paths", "sweep", "tags", "hydra",
             "run_name")


def module_label(model: Models) -> str:
    """A module's class name, a callable's name, or the stage names joined by ``+``."""
    if isinstance(model, Mapping) or (isinstance(model, Sequence)
                                      and not isinstance(model, torch.nn.Module)):
        label = "+".join(named_modules(model))
    elif isinstance(model, torch.nn.Module):
        label = type(model).__name__
    else:
        label = getattr(model, "__name__", type(model).__name__)
    return re.sub(r"[^\w.+-]+", "", label) or "model"  # <lambda> -> lambda


def changed_settings(given: Sequence[str], choices: Mapping[str, Any],
                     defaults: Mapping[str, Any]) -> list[str]:
    """The given overrides that change what is measured, as parts of a run name: a group's
    option where it is not the default (``onnxruntime``), ``key=value`` for a value
    (``precision.tf32=true``); the harness's own keys (``bench``, ``tracking`` ...) are not
    named."""
    parts = []
    for override in given:
        key, _, value = override.partition("=")
        key = key.lstrip("+~")
        if key.split(".")[0] in NOT_NAMED:
            continue
        if key in choices:
            if choices[key] != defaults.get(key):
                parts.append(str(choices[key]))
        elif "." in key:
            parts.append(f"{key}={value}")
    return parts


@functools.lru_cache(maxsize=1)
def default_choices() -> dict[str, Any]:
    """Each group's default option (composed once per process)."""
    _, hydra_cfg = compose([f"pipeline._target_={MODULE_PIPELINE}"])
    return dict(hydra_cfg.runtime.choices)


def option_overrides(options: Mapping[str, Any]) -> list[str]:
    """``backend="onnxruntime"`` -> ``backend=onnxruntime``; ``bench={"warmup": 2}`` ->
    ``bench.warmup=2``."""
    out = []
    for key, value in options.items():
        if isinstance(value, Mapping):
            out += [f"{key}.{k}={_value(v)}" for k, v in value.items()]
        else:
            out.append(f"{key}={_value(value)}")
    return out


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_value(v) for v in value) + "]"
    return str(value)


def model_key(model: Models, inputs: tuple[Any, ...], name: str) -> str:
    """A digest of the stages (names, classes, weights) and the example inputs: the parity
    reference is cached under it, so changed weights or inputs get a new reference."""
    from avbench.backends.export import module_digest

    digest = hashlib.sha256(name.encode())
    for stage, module in named_modules(model, name).items():
        digest.update(f"{stage}|{module_digest(module)}".encode())
        fn = getattr(module, "fn", None)
        if fn is not None:  # a plain callable: its identity is all we can key on
            digest.update(f"{getattr(fn, '__qualname__', type(fn).__name__)}|{id(fn)}".encode())
    for value in inputs:
        if isinstance(value, torch.Tensor):
            data = value.detach().cpu().contiguous()
            digest.update(f"{data.dtype}|{tuple(data.shape)}".encode())
            digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
        else:
            digest.update(repr(value).encode())
    return digest.hexdigest()[:16]


def compose(overrides: list[str]) -> tuple[Any, Any]:
    """The run's config from the CLI's tree (``pipeline=custom`` + overrides) and Hydra's
    own config, with the runtime a CLI run has (group choices, output dir)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir, initialize_config_module
    from omegaconf import open_dict

    from avbench.cli import config_path

    path = config_path()
    init = (initialize_config_module("avbench.conf", version_base="1.3")
            if path.startswith("pkg://") else
            initialize_config_dir(config_dir=path, version_base="1.3"))
    with init:
        cfg = hydra_compose("config", overrides=["pipeline=custom", *overrides],
                            return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(Path(cfg.hydra.run.dir).resolve())
        cfg.hydra.job.name = "avbench"
        hydra_cfg = cfg.pop("hydra")
    cfg.paths.output_dir = hydra_cfg.runtime.output_dir
    return cfg, hydra_cfg


def run(cfg: Any, hydra_cfg: Any) -> Result:
    """Run the composed config through ``avbench.runner.run``, as the CLI does; Hydra's
    runtime is set for the run and restored after it."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from avbench import runner

    holder = HydraConfig.instance()
    previous = holder.cfg
    holder.set_config(OmegaConf.create({"hydra": hydra_cfg}))
    try:
        result = runner.run(cfg)
    finally:
        holder.cfg = previous
    out_dir = Path(cfg.paths.output_dir)
    breakdown = out_dir / "performance_breakdown.json"
    summary = json.loads(breakdown.read_text()) if breakdown.is_file() else {}
    return Result(name=result.name, status=result.status, run_id=result.run_id,
                  metrics=dict(result.metrics), tags=dict(result.tags), summary=summary,
                  out_dir=out_dir, error=result.error)
