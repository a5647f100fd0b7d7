"""Phase 2, build: instantiate ``cfg.pipeline`` with the runtime values its constructor takes."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from avbench import console
from avbench.audio.synth import write_voice_profiles
from avbench.pipelines.base import Pipeline
from avbench.run_types import RunContext
from avbench.runtime import ConfigError, resolve_cache_dir


def build(ctx: RunContext) -> Pipeline:
    """The run's pipeline; its construction time is ``cold.model_s``."""
    cfg = ctx.cfg
    preset = f" {cfg.preset.name}" if uses_preset(cfg) else ""
    console.phase(2, "build", f"{pipeline_label(cfg)}{preset} {cfg.precision.name} "
                  f"on {ctx.device} ({cfg.backend.name})")
    start = time.perf_counter()
    pipe = build_pipeline(cfg, ctx.device, ctx.dtype, ctx.kernel, ctx.cache_dir)
    ctx.metrics["cold.model_s"] = time.perf_counter() - start
    ctx.build_reference = reference_builder(ctx)
    # model.weights.<component> = pretrained:<package>/<file> | seeded (what grading reads)
    sources = pipe.describe().get("weights", {}) | getattr(pipe, "weight_sources", {})
    ctx.set_tags({f"model.weights.{component}": tag for component, tag in sources.items()})
    return pipe


def uses_preset(cfg: DictConfig) -> bool:
    """Whether the pipeline reads the preset: a value of its node interpolates ``preset``
    (svc's ``settings: ${preset.svc}``, tts's vocoder), so the preset's name belongs in the
    run's name; a custom pipeline, a module run or calibration has none."""
    return "${preset" in repr(OmegaConf.to_container(cfg.pipeline, resolve=False))


def pipeline_label(cfg: DictConfig) -> str:
    """``pipeline.name``; for ``pipeline=custom`` left so, the class ``_target_`` names
    (``custom`` while no target is set)."""
    target = OmegaConf.select(cfg, "pipeline._target_", default=None)
    if cfg.pipeline.name == "custom" and target:
        return str(target).rsplit(".", 1)[-1]
    return cfg.pipeline.name


def build_pipeline(cfg: DictConfig, device: torch.device, dtype: torch.dtype, kernel: str,
                   cache_dir: Path) -> Pipeline:
    """Instantiate ``cfg.pipeline`` with the runtime values its constructor takes."""
    target = pipeline_class(cfg.pipeline)
    accepted = inspect.signature(target).parameters
    runtime: dict[str, Any] = {"device": device, "dtype": dtype, "kernel": kernel,
                               "weights": cfg.weights.name,
                               "weights_cache_dir": str(resolve_cache_dir(cfg.weights.cache_dir))}
    if "voice_profile" in accepted and not cfg.pipeline.voice_profile:
        runtime["voice_profile"] = str(write_voice_profiles(cache_dir / "profiles")[1])
    known = {k: v for k, v in OmegaConf.to_container(cfg.pipeline, resolve=True).items()
             if k == "_target_" or k in accepted}
    try:
        return instantiate(known, _convert_="all",
                           **{k: v for k, v in runtime.items() if k in accepted})
    except InstantiationException as error:  # Hydra's wrapper: the cause is the story
        raise (error.__cause__ or error) from None


def pipeline_class(pipeline: DictConfig) -> type[Pipeline]:
    """The class of ``pipeline._target_``, or an error that says how to name one."""
    if OmegaConf.is_missing(pipeline, "_target_"):
        raise ConfigError("pipeline=custom needs pipeline._target_=<module>.<Class>: a "
                          "Pipeline subclass importable from PYTHONPATH (docs/extending.md)")
    try:
        target = get_class(pipeline._target_)
    except Exception as error:
        cause = error.__cause__ or error
        raise ConfigError(f"pipeline._target_={pipeline._target_} cannot be imported; put its "
                          f"package on PYTHONPATH ({type(cause).__name__}: {cause})") from error
    if not (isinstance(target, type) and issubclass(target, Pipeline)):
        raise ConfigError(f"pipeline._target_={pipeline._target_} is not a subclass of "
                          "avbench.pipelines.base.Pipeline (docs/extending.md)")
    return target


def reference_builder(ctx: RunContext) -> Callable[[], Pipeline]:
    """Builds the fp32 eager reference (torch kernels) from the run's assets: the pipeline
    the parity gate and the side-by-side timing compare against."""
    return lambda: build_pipeline(ctx.cfg, ctx.device, torch.float32, "torch", ctx.cache_dir)
