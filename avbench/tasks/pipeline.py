"""task=pipeline: build the pipeline, time every stage over repeats, check quality, log."""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from avbench import backends, console
from avbench.audio.io import load_audio
from avbench.audio.synth import TestSong, load_or_generate, write_voice_profiles
from avbench.backends.export import FrameRange
from avbench.measure import memory
from avbench.measure.allocator import retain_freed_memory
from avbench.measure.openmp import idle_spin_tags
from avbench.measure.threads import apply_threads
from avbench.metrics.perf import perf_metrics
from avbench.metrics.quality import pitch_metrics
from avbench.pipelines.base import Pipeline
from avbench.runtime import (
    native_cpu_precision,
    profile_matches,
    resolve_cache_dir,
    resolve_device,
    resolve_dtype,
    resolve_kernel,
)
from avbench.tasks import parity
from avbench.tasks.artifacts import write_artifacts
from avbench.tasks.run_summary import run_summary
from avbench.tasks.side_by_side import side_by_side
from avbench.tasks.timing import time_pipeline
from avbench.tracking import RunLogger

log = logging.getLogger(__name__)


def run_name(cfg: DictConfig) -> str:
    """Readable run name, e.g. svc-balanced-fp32-pytorch-10s."""
    audio = Path(cfg.audio.path).stem if cfg.audio.path else cfg.audio.name
    return cfg.run_name or "-".join(
        [cfg.pipeline.name, cfg.preset.name, cfg.precision.name, cfg.backend.name, audio])


def execute(cfg: DictConfig, logger: RunLogger, out_dir: Path, name: str) -> dict[str, Any]:
    """One benchmark run; returns the headline metrics. Raises on bad input or config."""
    device = resolve_device(cfg.gpu)
    # On CUDA everything (export, engines, timing, parity) runs on one non-default stream:
    # TensorRT adds a synchronisation per call on the legacy default stream, and ONNX Runtime
    # and TensorRT are bound to the stream that is current when they are prepared.
    work_stream = (torch.cuda.stream(torch.cuda.Stream(device)) if device.type == "cuda"
                   else contextlib.nullcontext())
    with work_stream:
        return _execute(cfg, logger, out_dir, name, device)


def _execute(cfg: DictConfig, logger: RunLogger, out_dir: Path, name: str,
             device: torch.device) -> dict[str, Any]:
    dtype = resolve_dtype(cfg.precision)
    kernel, interpreted = resolve_kernel(cfg.kernel.name, device)
    cache_dir = resolve_cache_dir(cfg.paths.cache_dir)
    logger.set_tags(apply_threads(cfg.bench.threads) | idle_spin_tags()
                    | retain_freed_memory(cfg.bench.retain_freed_memory))
    native = device.type != "cpu" or native_cpu_precision(dtype)
    if not native:
        log.warning("precision=%s on this CPU has no native %s instructions: PyTorch uses "
                    "slow fallback kernels, so expect it to be far slower than fp32",
                    cfg.precision.name, cfg.precision.dtype)
    logger.set_tags({"device": str(device), "kernel.effective": kernel,
                     "precision.dtype": cfg.precision.dtype,
                     "precision.native": str(native).lower(),
                     "kernel.interpreted": str(interpreted).lower(),
                     "gpu.profile_match": profile_matches(cfg.gpu, device)})

    console.phase(1, "input", cfg.audio.path or f"synthetic song, {cfg.audio.duration_s:g} s")
    sample_rate = int(cfg.pipeline.sample_rate)
    audio_np, song = _load_input(cfg, sample_rate, cache_dir)
    audio = torch.from_numpy(audio_np).to(device)
    duration_s = audio_np.shape[-1] / sample_rate

    console.phase(2, "build", f"{cfg.pipeline.name} {cfg.preset.name} {cfg.precision.name} "
                  f"on {device} ({cfg.backend.name})")
    build_start = time.perf_counter()
    pipe = build_pipeline(cfg, device, dtype, kernel, cache_dir)
    model_s = time.perf_counter() - build_start
    backend_cache = resolve_cache_dir(cfg.backend.cache_dir, cfg.paths.cache_dir)
    report = backends.prepare(pipe, cfg.backend, device, dtype, backend_cache,
                              frame_range(cfg, pipe, audio.shape[-1]))
    logger.set_tags(report.tags())

    timed = time_pipeline(pipe, audio, cfg.bench)
    times, output = timed.times, timed.output

    metrics = (perf_metrics(times, duration_s) | _neural_ms(pipe, times.samples_ms)
               | _component_metrics(timed.component_ms))
    # CUDA: the allocator's peak, reset per stage, maxed over stages; CPU: process peak RSS.
    peak_mb = (max(timed.stage_memory_mb.values()) if device.type == "cuda"
               else memory.peak_mb(device))
    metrics |= {"memory_peak_mb": peak_mb, "audio_duration_s": duration_s,
                "device.cuda": float(device.type == "cuda"),
                "cold.model_s": model_s, **report.metrics(),
                "cold.first_call_s": timed.first_call_s,
                **{f"memory_peak_mb.{k}": v for k, v in timed.stage_memory_mb.items()},
                **timed.monitor.summary(), **timed.harness}
    logger.set_tags(_flags(cfg, device, metrics))
    if song is not None:
        metrics |= _pitch_accuracy(pipe, output, song)
    failures = _parity(cfg, pipe, audio, output.state, metrics, logger, device=device,
                       kernel=kernel, cache_dir=cache_dir, backend_cache=backend_cache)
    metrics |= _vs_eager(cfg, pipe, audio, device=device, kernel=kernel, cache_dir=cache_dir)
    if hasattr(pipe, "stage_ms"):
        metrics |= {f"calibration.error_pct.{stage}": 100 * (metrics[f"stage_ms.{stage}"] - ms) / ms
                    for stage, ms in pipe.stage_ms.items() if ms > 0}
    logger.log_metrics(metrics)
    logger.log_series("repeat.total_ms", times.samples_ms["total"])
    for series_name, values in timed.monitor.series().items():
        logger.log_series(series_name, values)
    logger.log_params({f"model.{key}": value
                       for key, value in _flat(pipe.describe()).items()})
    for path in write_artifacts(cfg, out_dir, device, duration_s, times, metrics, output):
        logger.log_artifact(path)
    summary = run_summary(name, cfg, device, times, metrics, report, logger, failures)
    console.print_run_summary(summary)
    if failures is not None and failures and cfg.backend.parity.enforce:
        raise parity.ParityError(f"parity beyond precision={cfg.precision.name} thresholds: "
                                 + "; ".join(failures))
    return metrics


def _neural_ms(pipe: Pipeline, samples_ms: dict[str, Any]) -> dict[str, float]:
    """``neural_ms``: median per-repeat time of the stages that hold neural components
    (what a backend changes; the DSP inside those stages included)."""
    neural = [stage.name for stage in pipe.stages if stage.components]
    if not neural:
        return {}
    return {"neural_ms": _median_of_sums([samples_ms[name] for name in neural])}


def _component_metrics(component_ms: dict[str, list[float]]) -> dict[str, float]:
    """``component_ms.<name>`` (median per run) and ``component_ms`` (median of the per-run
    sum): time inside the neural components only, without the stages' DSP."""
    if not component_ms:
        return {}
    metrics = {f"component_ms.{name}": float(np.median(values))
               for name, values in component_ms.items()}
    metrics["component_ms"] = _median_of_sums(list(component_ms.values()))
    return metrics


def _median_of_sums(series: list[list[float]]) -> float:
    """Median over repeats of the per-repeat sum of several aligned series."""
    return float(np.median(np.sum(np.asarray(series, dtype=float), axis=0)))


def frame_range(cfg: DictConfig, pipe: Pipeline, samples: int) -> FrameRange:
    """Frame counts an engine must accept: audio.profile_min_s, this input, profile_max_s."""
    hop = int(getattr(pipe, "hop_length", 256))
    sample_rate = pipe.sample_rate

    def frames(n_samples: float) -> int:
        return int(n_samples) // hop + 1

    opt = frames(samples)
    smallest = min(opt, frames(cfg.audio.profile_min_s * sample_rate))
    largest = max(opt, frames((cfg.audio.profile_max_s or 0) * sample_rate))
    return FrameRange(smallest, opt, largest)


def _parity(cfg: DictConfig, pipe: Pipeline, audio: torch.Tensor, state: dict[str, Any],
            metrics: dict[str, float], logger: RunLogger, *, device: torch.device, kernel: str,
            cache_dir: Path, backend_cache: Path) -> list[str] | None:
    """Compare with the fp32 eager reference when this run is not one; None when not checked.

    The reference pipeline is built from the run's assets (``cache_dir``); its stage outputs
    are cached beside the exported graphs and engines (``backend_cache``).
    """
    if not parity.needed(cfg, kernel):
        console.phase(5, "parity", "skipped: this run is the fp32 eager reference"
                      if cfg.backend.parity.enabled else "off (backend.parity.enabled=false)")
        return None
    console.phase(5, "parity", f"stage outputs vs the fp32 eager reference "
                  f"(thresholds of precision={cfg.precision.name})")
    reference, hit = parity.reference_outputs(
        cfg, audio, device, backend_cache,
        _reference_builder(cfg, device, cache_dir))
    values, failures = parity.check(pipe, state, reference, cfg.precision.parity)
    metrics |= values
    logger.set_tags({"parity.pass": str(not failures).lower(),
                     "parity.reference_cache": "hit" if hit else "miss",
                     "parity.failures": "; ".join(failures)[:5000]})
    for failure in failures:
        log.warning("parity beyond precision=%s thresholds: %s", cfg.precision.name, failure)
    return failures


def _vs_eager(cfg: DictConfig, pipe: Pipeline, audio: torch.Tensor, *, device: torch.device,
              kernel: str, cache_dir: Path) -> dict[str, float]:
    """With ``bench.eager_side_by_side=N``: N interleaved pairs of the fp32 eager reference
    and this run's pipeline, for a speed-up that the machine's slow periods hit alike."""
    pairs = int(cfg.bench.eager_side_by_side)
    if pairs <= 0:
        return {}
    if parity.is_reference(cfg, kernel):
        console.print_line("      vs eager  skipped: this run is the fp32 eager reference")
        return {}
    console.print_line(f"      vs eager  {pairs} interleaved pair(s) with the fp32 eager reference")
    return side_by_side(pipe, _reference_builder(cfg, device, cache_dir), audio, pairs).metrics()


def _reference_builder(cfg: DictConfig, device: torch.device,
                       cache_dir: Path) -> Callable[[], Pipeline]:
    """Builds the fp32 eager reference (torch kernels) from the run's assets: the pipeline
    the parity gate and the side-by-side timing compare against."""
    return lambda: build_pipeline(cfg, device, torch.float32, "torch", cache_dir)


def _flags(cfg: DictConfig, device: torch.device, metrics: dict[str, float]) -> dict[str, str]:
    """Tags that say whether the numbers can be trusted, with a warning for each problem."""
    unstable = metrics["rtf_cv"] > cfg.bench.max_cv
    flags = {"bench.unstable": str(unstable).lower()}
    if unstable:
        load = (f" (meanwhile other processes took {metrics['monitor.other_cpu_pct']:.1f}% and "
                f"the hypervisor {metrics['monitor.steal_pct']:.1f}% of the CPU)"
                if "monitor.other_cpu_pct" in metrics else "")
        log.warning("RTF varies %.1f%% between repeats (bench.max_cv=%.0f%%)%s: the machine is "
                    "busy or the run is too short; raise bench.min_time_s or check "
                    "python -m avbench task=doctor (timing noise)", 100 * metrics["rtf_cv"],
                    100 * cfg.bench.max_cv, load)
    if "monitor.gpu_throttled_fraction" in metrics:
        throttled = metrics["monitor.gpu_throttled_fraction"] > 0
        flags["bench.throttled"] = str(throttled).lower()
        if throttled:
            log.warning("the GPU throttled its clocks during %.0f%% of samples",
                        100 * metrics["monitor.gpu_throttled_fraction"])
    if device.type == "cuda" and "monitor.gpu_util_pct_mean" in metrics:
        starved = metrics["monitor.gpu_util_pct_mean"] < cfg.bench.min_gpu_util_pct
        flags["bench.gpu_bottleneck_elsewhere"] = str(starved).lower()
        if starved:
            log.warning("mean GPU utilisation %.0f%% < %.0f%%: the GPU waits on something else",
                        metrics["monitor.gpu_util_pct_mean"], cfg.bench.min_gpu_util_pct)
    return flags


def _load_input(cfg: DictConfig, sample_rate: int,
                cache_dir: Path) -> tuple[np.ndarray, TestSong | None]:
    """The input waveform and, for a synthetic song, the song with its F0 labels."""
    if cfg.audio.path:
        return load_audio(cfg.audio.path, sample_rate), None
    song = load_or_generate(resolve_cache_dir(cfg.audio.cache_dir, str(cache_dir / "songs")),
                            cfg.audio.duration_s, sample_rate, seed=cfg.audio.seed,
                            hop_length=cfg.preset.svc.hop_length)
    return song.mix, song


def _pitch_accuracy(pipe: Pipeline, output: Any, song: TestSong) -> dict[str, float]:
    """F0 accuracy against the song's labels.

    ``pitch_*``: the f0_extraction stage's output, i.e. F0 of the separated
    vocals (with untrained separation weights this mostly measures the
    separation). ``f0_clean.pitch_*``: the same extractor on the clean vocal
    stem, which isolates the F0 method itself. Computed after timing.
    """
    labels = (song.f0_hz, song.voiced)
    state = output.state
    if "f0_hz" not in state:
        return {}
    metrics = pitch_metrics(state["f0_hz"].cpu().numpy(), state["voiced"].cpu().numpy(), *labels)
    if hasattr(pipe, "extract_f0"):
        with torch.inference_mode():
            f0_hz, voiced = pipe.extract_f0(torch.from_numpy(song.vocals))
        clean = pitch_metrics(f0_hz.cpu().numpy(), voiced.cpu().numpy(), *labels)
        metrics |= {f"f0_clean.{key}": value for key, value in clean.items()}
    return metrics


def build_pipeline(cfg: DictConfig, device: torch.device, dtype: torch.dtype, kernel: str,
                    cache_dir: Path) -> Pipeline:
    """Instantiate ``cfg.pipeline`` with the runtime values its constructor takes."""
    target = get_class(cfg.pipeline._target_)
    accepted = inspect.signature(target).parameters
    runtime: dict[str, Any] = {"device": device, "dtype": dtype, "kernel": kernel}
    if "voice_profile" in accepted and not cfg.pipeline.voice_profile:
        runtime["voice_profile"] = str(write_voice_profiles(cache_dir / "profiles")[1])
    known = {k: v for k, v in OmegaConf.to_container(cfg.pipeline, resolve=True).items()
             if k == "_target_" or k in accepted}
    return instantiate(known, _convert_="all",
                       **{k: v for k, v in runtime.items() if k in accepted})


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat
