"""Phase 3, prepare: the backend exports, compiles or builds engines for the neural components,
and compiled Triton kernels are tuned at the run's sizes."""

from __future__ import annotations

import time

import torch
from omegaconf import DictConfig

from avbench import backends
from avbench.audio.synth import load_or_generate
from avbench.backends import BackendReport, calibration_set
from avbench.backends.calibration_set import CalibrationSet
from avbench.backends.quantize import Hold
from avbench.pipelines.base import FrameRange, Pipeline
from avbench.run_types import RunContext, RunInput

WAVEFORM_FIELDS = ("vocoder", "tts")  # quality fields that measure a vocoder's own waveform


def prepare(ctx: RunContext, pipe: Pipeline, run_input: RunInput) -> BackendReport:
    quantize = ctx.cfg.precision.get("quantize")
    report = backends.prepare(pipe, ctx.cfg.backend, ctx.device, ctx.dtype, ctx.backend_cache,
                              frame_range(ctx.cfg, pipe, run_input), quantize,
                              calibration(ctx, pipe) if quantize else None,
                              frozenset(name for name, source in _weights(pipe).items()
                                        if source != "seeded"),
                              tf32=bool(ctx.cfg.precision.tf32),
                              holds=holds(ctx.cfg, pipe) if quantize else None,
                              keep_float=frozenset(ctx.cfg.precision.get("keep_float") or ()))
    ctx.set_tags(report.tags())
    ctx.metrics |= report.metrics()
    if tunes_kernels(ctx.kernel, ctx.device):
        ctx.metrics["cold.kernel_tune_s"] = tune_kernels(pipe, run_input)
    return report


def holds(cfg: DictConfig, pipe: Pipeline) -> dict[str, Hold]:
    """int8 holds: each component that is alone in a stage whose quality field measures a
    waveform it makes (the vocoder: ``vocoder``, ``tts``) is held to ``hold_margin`` of that
    field's log-mel limit, on one-second calls; none when either is null."""
    limit = cfg.precision.quality.get("max_log_mel_db")
    margin = cfg.precision.get("hold_margin")
    if limit is None or margin is None:
        return {}
    fields = getattr(pipe, "quality_fields", {})
    frames = pipe.sample_rate // int(getattr(pipe, "hop_length", 256)) + 1  # one second
    found = {}
    for stage in pipe.stages:
        field = fields.get(stage.name)
        if field not in WAVEFORM_FIELDS or len(stage.components) != 1:
            continue
        found[stage.components[0]] = Hold(field, pipe.sample_rate,
                                          float(limit) * float(margin), frames)
    return found


def tunes_kernels(kernel: str, device: torch.device) -> bool:
    """Whether this run's Triton kernels compile and autotune at their first calls: compiled
    ones on CUDA do (the CPU interpreter has one config and nothing to tune)."""
    return kernel == "triton" and device.type == "cuda"


def tune_kernels(pipe: Pipeline, run_input: RunInput) -> float:
    """One call of the pipeline on the run's input, so that the Triton kernels compile and
    autotune at the sizes the run uses before the timing phase opens its memory window:
    the autotuner's buffers (a 256 MB cache flush allocated through torch per benchmark)
    would otherwise be the peak of a process's first run only. Returns its seconds."""
    start = time.perf_counter()
    pipe.run(run_input.audio)
    torch.cuda.synchronize(pipe.device)
    return time.perf_counter() - start


def frame_range(cfg: DictConfig, pipe: Pipeline, run_input: RunInput) -> FrameRange:
    """Frame counts an engine must accept: audio.profile_min_s, this input, profile_max_s;
    a pipeline whose input is not audio (TTS) gives its own (``pipe.frame_range(input)``)."""
    own = getattr(pipe, "frame_range", None)
    if callable(own):
        return own(run_input.audio)
    samples = run_input.audio.shape[-1]
    hop = int(getattr(pipe, "hop_length", 256))
    sample_rate = pipe.sample_rate

    def frames(n_samples: float) -> int:
        return int(n_samples) // hop + 1

    opt = frames(samples)
    smallest = min(opt, frames(cfg.audio.profile_min_s * sample_rate))
    largest = max(opt, frames((cfg.audio.profile_max_s or 0) * sample_rate))
    return FrameRange(smallest, opt, largest)


def calibration(ctx: RunContext, pipe: Pipeline) -> CalibrationSet | None:
    """The components' inputs on synthetic calibration songs (never the evaluation input's
    seed), for post-training quantisation; None for a pipeline whose input is not audio."""
    cfg = ctx.cfg
    if cfg.pipeline.get("input", "audio") != "audio":
        return None
    seeds = calibration_set.seeds(int(cfg.audio.seed))
    songs = [load_or_generate(ctx.cache_dir / "songs", calibration_set.DURATION_S,
                              pipe.sample_rate, seed=seed, hop_length=cfg.preset.svc.hop_length)
             for seed in seeds]
    return calibration_set.record(
        pipe, [torch.from_numpy(song.mix) for song in songs],
        f"{len(songs)} synthetic songs of {calibration_set.DURATION_S:g} s, seeds {seeds}",
        [torch.from_numpy(song.vocals) for song in songs])


def _weights(pipe: Pipeline) -> dict[str, str]:
    return pipe.describe().get("weights", {}) | getattr(pipe, "weight_sources", {})
