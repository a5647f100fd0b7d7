"""Phase 3, prepare: the backend exports, compiles or builds engines for the neural components."""

from __future__ import annotations

from omegaconf import DictConfig

from avbench import backends
from avbench.backends import BackendReport
from avbench.pipelines.base import FrameRange, Pipeline
from avbench.run_types import RunContext, RunInput


def prepare(ctx: RunContext, pipe: Pipeline, run_input: RunInput) -> BackendReport:
    report = backends.prepare(pipe, ctx.cfg.backend, ctx.device, ctx.dtype, ctx.backend_cache,
                              frame_range(ctx.cfg, pipe, run_input),
                              tf32=bool(ctx.cfg.precision.tf32))
    ctx.set_tags(report.tags())
    ctx.metrics |= report.metrics()
    return report


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
