"""The parity gate: stage outputs of a run against the fp32 eager reference on the same input.

The reference is the same pipeline and preset built in float32 with eager
PyTorch and the torch DSP kernels, run once on the same input on the same
device in strict float32 (no TF32 on CUDA, whatever ``precision.tf32``); its
stage outputs are cached (avbench.backends.cache) keyed like the exported graphs:
the input's hash, the content hash of the run's weights (every component's
parameters and buffers, with their dtype), the source of the
pipeline and of every module it holds (and of the modules those import, within
their package), the pipeline and preset settings, seed, checkpoint, device and
torch version. An edited model (weights or code) gets a new reference, never
a stale one.

Two figures per stage output. The gate reads ``parity.<stage>.*``: the run's stage fed
the reference's own inputs, so each stage answers for its own error only (a vocoder is
not failed for the drift of the seeded conversion in front of it); for a pipeline whose
stages do not read named state keys (``Pipeline.parity_by_stage`` false, e.g. a chain of
modules passed to ``avbench.benchmark``) it is the chained figure. ``parity.chained.
<stage>.*`` is the output the run produced at that point, where errors accumulate down the
pipeline as they do for a user: reported, not gated.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import sys
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from avbench.backends.cache import ArtifactCache, file_digest
from avbench.backends.export import module_digest
from avbench.errors import UserError
from avbench.metrics.parity import compare, violations
from avbench.pipelines.base import Pipeline, State
from avbench.runtime import fp32_math, is_fp32_eager_reference
from avbench.version import __version__

log = logging.getLogger(__name__)


# The run's final output and its fidelity to the reference's (dB): the quality axis that
# precision, backend and kernel choices move (docs/analysis.md).
FINAL_OUTPUT = "output"
FIDELITY = "quality.fidelity_snr_db"


class ParityError(UserError, RuntimeError):
    """A run beyond its precision's parity thresholds with backend.parity.enforce=true."""


def is_reference(cfg: DictConfig, kernel: str) -> bool:
    """fp32 eager PyTorch with the torch kernels, without TF32: the run the reference is
    built as."""
    return is_fp32_eager_reference(cfg.backend.name, cfg.precision.dtype, kernel,
                                   bool(cfg.precision.tf32))


def needed(cfg: DictConfig, kernel: str) -> bool:
    """Every run that is not the reference itself is checked."""
    return bool(cfg.backend.parity.enabled) and not is_reference(cfg, kernel)


def source_digest(objects: Iterable[Any]) -> str:
    """SHA-256 of the source files that define ``objects``' classes and of every module they
    import from their own top-level package (transitively): the code behind an output."""
    pending = {sys.modules[cls.__module__] for obj in objects
               for cls in type(obj).__mro__ if cls.__module__ in sys.modules
               and cls.__module__ != "builtins" and not cls.__module__.startswith("torch")}
    seen: dict[str, types.ModuleType] = {}
    while pending:
        module = pending.pop()
        if module.__name__ in seen or not getattr(module, "__file__", None):
            continue
        seen[module.__name__] = module
        package = module.__name__.split(".")[0]
        for value in vars(module).values():
            found = value if isinstance(value, types.ModuleType) else inspect.getmodule(value)
            if found is not None and found.__name__.split(".")[0] == package:
                pending.add(found)
    digest = hashlib.sha256()
    for name in sorted(seen):
        digest.update(name.encode())
        digest.update(Path(seen[name].__file__).read_bytes())
    return digest.hexdigest()


def model_fields(pipe: Pipeline) -> dict[str, Any]:
    """What the run's model is: each component's weights (content hash, with dtype) and the
    code of the pipeline and of everything it holds."""
    modules = [value for value in vars(pipe).values() if isinstance(value, torch.nn.Module)]
    modules += [m for c in pipe.components.values() for m in c.module.modules()]
    return {"weights_sha256": {name: module_digest(c.module)
                               for name, c in sorted(pipe.components.items())},
            "code_sha256": source_digest([pipe, *modules])}


def reference_fields(cfg: DictConfig, audio: torch.Tensor, device: torch.device,
                     pipe: Pipeline) -> dict[str, Any]:
    pipeline = OmegaConf.to_container(cfg.pipeline, resolve=True)
    checkpoint = cfg.pipeline.get("checkpoint")
    return {
        "input_sha256": hashlib.sha256(audio.detach().cpu().contiguous().numpy().tobytes())
        .hexdigest(),
        "pipeline": pipeline,
        "preset": OmegaConf.to_container(cfg.preset, resolve=True),
        "checkpoint_sha256": file_digest(Path(checkpoint)) if checkpoint else None,
        "device": str(device), "torch": torch.__version__, "avbench": __version__,
        "saved": "every tensor of the final state",  # what an entry holds (stage inputs too)
        "fp32_math": "ieee",  # strict float32 on CUDA too (fp32_math), never TF32
    } | model_fields(pipe)


def reference_outputs(cfg: DictConfig, audio: torch.Tensor, device: torch.device,
                      cache_dir: Path, build: Callable[[], Pipeline],
                      pipe: Pipeline) -> tuple[State, bool]:
    """Stage outputs of the fp32 eager reference (cached) and whether the cache had them;
    ``pipe`` is the run's pipeline, whose weights and code key the entry."""
    entry = ArtifactCache(cache_dir).entry(
        "reference", f"{cfg.pipeline.name}-{cfg.preset.name}",
        reference_fields(cfg, audio, device, pipe), "outputs.pt")

    def compute(path: Path) -> None:
        log.info("computing the fp32 eager reference for the parity gate (cached after this)")
        with fp32_math(device, tf32=False):  # whatever the run's precision.tf32
            state = build().run(audio).state
        torch.save({key: value.detach().cpu() for key, value in state.items()
                    if isinstance(value, torch.Tensor)}, path)

    result = entry.get_or_build(compute)
    return torch.load(result.path, weights_only=True), result.hit


def isolated_outputs(pipe: Pipeline, state: State, reference: State) -> State:
    """Each stage of the run's pipeline run on the reference's state (every key cast to the
    device and dtype the run's own state had for it): the stage outputs it gives. Empty for
    a pipeline whose stages do not read named keys (``parity_by_stage`` false)."""
    outputs: State = {}
    if not pipe.parity_by_stage:
        return outputs
    with torch.inference_mode():
        for stage in pipe.stages:
            if not stage.outputs:
                continue
            given = dict(state) | {key: _like(value, state.get(key))
                                   for key, value in reference.items()}
            stage.fn(given)
            outputs |= {key: given[key] for key in stage.outputs if key in given}
    return outputs


def _like(value: torch.Tensor, run_value: Any) -> torch.Tensor:
    if isinstance(run_value, torch.Tensor):
        return value.to(run_value.device, run_value.dtype)
    return value


def check(pipe: Pipeline, state: State, reference: State,
          thresholds: Any) -> tuple[dict[str, float], list[str]]:
    """``parity.<stage>.<measure>`` (the stage alone, gated) and ``parity.chained.<stage>.
    <measure>`` (as the run produced it) metrics, the headline ``quality.fidelity_snr_db``
    (the final output's SNR against the reference's), and the violations, one line per
    stage."""
    metrics, problems = check_by_stage(pipe, state, reference, thresholds)
    return metrics, [f"{stage}: {', '.join(found)}" for stage, found in problems.items()]


def check_by_stage(pipe: Pipeline, state: State, reference: State, thresholds: Any,
                   alone: State | None = None) -> tuple[dict[str, float], dict[str, list[str]]]:
    """The numeric parity metrics (as ``check``) and each failing stage's violations;
    ``alone``: the stages' isolated outputs when already computed."""
    alone = isolated_outputs(pipe, state, reference) if alone is None else alone
    metrics: dict[str, float] = {}
    failures: dict[str, list[str]] = {}
    for stage in pipe.stages:
        for key in stage.outputs:
            if key not in state or key not in reference:
                continue
            name = stage.name + (f".{key}" if len(stage.outputs) > 1 else "")
            audio = key in pipe.audio_keys
            chained = compare(state[key], reference[key], audio=audio)
            metrics |= {f"parity.chained.{name}.{m}": v for m, v in chained.items()}
            measures = compare(alone.get(key, state[key]), reference[key], audio=audio)
            metrics |= {f"parity.{name}.{m}": v for m, v in measures.items()}
            if problems := violations(measures, thresholds):
                failures.setdefault(stage.name, []).extend(problems)
    if all(isinstance(s.get(FINAL_OUTPUT), torch.Tensor) for s in (state, reference)):
        metrics[FIDELITY] = compare(state[FINAL_OUTPUT], reference[FINAL_OUTPUT],
                                    audio=True)["snr_db"]
    return metrics, failures
