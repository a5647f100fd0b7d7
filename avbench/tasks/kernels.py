"""task=kernels: time every implementation of each DSP family side by side, with accuracy.

One process, one input, one thread count for everyone (``bench.threads``, applied to torch
and the BLAS/OpenMP pools): our torch path, our Triton kernels
(when ``kernel`` resolves to them), torchaudio and librosa. Each gets ``task.warmup`` untimed
calls and ``task.repeats`` timed ones (median and IQR). Speed-ups are ratios of time per
second of audio, so implementations timed on a clip (pyin, the Triton interpreter) still
compare. Interpreted Triton timings are recorded as ``triton_interpreted`` and never turned
into speed-ups or FLOP/s: the interpreter is a correctness tool.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from avbench import console
from avbench.audio.io import load_audio
from avbench.audio.synth import TestSong, load_or_generate
from avbench.dsp import functional as fn
from avbench.dsp.implementations import FAMILIES, Impl, Settings, f0_impls, spectral_impls
from avbench.measure.allocator import retain_freed_memory
from avbench.measure.threads import apply_threads
from avbench.metrics.quality import pitch_metrics
from avbench.runtime import (
    ConfigError,
    resolve_cache_dir,
    resolve_device,
    resolve_dtype,
    resolve_kernel,
)
from avbench.tracking import RunLogger

log = logging.getLogger(__name__)
# Log-mel errors are measured on bins within 80 dB of the peak: below that, float32 rounding
# of near-silent frames (the song's lead-in) moves the log by more than any real difference.
_LOG_MEL_RANGE = np.log(1e8)


TASK_OPTIONS = ("families", "n_fft", "hop_length", "n_mels", "frame_length", "fmin", "fmax",
                "warmup", "repeats", "pyin_max_s", "interpret_max_s")  # task.* keys it reads


def run_name(cfg: DictConfig) -> str:
    """e.g. kernels-auto-fp32-30s (the audio part from the resolved duration)."""
    from avbench.phases.input import audio_label

    return cfg.run_name or f"kernels-{cfg.kernel.name}-{cfg.precision.name}-{audio_label(cfg)}"


def execute(cfg: DictConfig, logger: RunLogger, out_dir: Path, name: str) -> dict[str, float]:
    """Time and check every implementation; log one metric per family/impl/figure."""
    task = cfg.task
    unknown = sorted(set(task.families) - set(FAMILIES))
    if unknown:
        raise ConfigError(f"task.families has {unknown}; choose from {list(FAMILIES)}")
    device = resolve_device(cfg.gpu)
    kernel, interpreted = resolve_kernel(cfg.kernel.name, device)
    dtype = resolve_dtype(cfg.precision)
    triton_dtype = dtype if dtype in (torch.float32, torch.float16) else torch.float32
    threads_in_force = apply_threads(cfg.bench.threads)
    threads = threads_in_force["threads.torch"]
    logger.set_tags({"device": str(device), "kernel.effective": kernel,
                     "kernel.interpreted": str(interpreted).lower(),
                     "kernels.triton_dtype": str(triton_dtype).removeprefix("torch."),
                     **retain_freed_memory(cfg.bench.retain_freed_memory)})

    s = Settings(int(cfg.audio.sample_rate), task.n_fft, task.hop_length, task.n_mels,
                 task.frame_length, task.fmin, task.fmax)
    mix, vocals, song = _load_input(cfg, s)
    console.print_line(f"kernels · {len(mix) / s.sample_rate:g} s at {s.sample_rate} Hz on "
                       f"{device} · {threads} thread(s) · kernel {kernel}"
                       + (" (interpreted: timings are not speed)" if interpreted else ""))
    triton_for: Callable[[np.ndarray], Any] = lambda audio: None  # noqa: E731
    if kernel == "triton":
        clip_n = int(task.interpret_max_s * s.sample_rate) if interpreted else None
        triton_for = lambda audio: (interpreted, triton_dtype, audio[:clip_n])  # noqa: E731
    pyin_clip = vocals[: int(task.pyin_max_s * s.sample_rate)] if task.pyin_max_s > 0 else None

    rows: list[dict[str, Any]] = []
    for family in task.families:
        if family == "f0":
            impls = f0_impls(s, vocals, device, triton_for(vocals), pyin_clip)
        else:
            impls = spectral_impls(family, s, mix, device, triton_for(mix))
        family_rows = []
        for impl in impls:
            console.print_line(f"  {family:<8} {impl.name}")
            family_rows.append(_measure(impl, task.warmup, task.repeats, s, song))
        _accuracy_reference(family, s, family_rows, impls, mix)
        rows += _relative(family_rows, cfg, device, triton_dtype)

    metrics = _metrics(rows) | {k: float(v) for k, v in threads_in_force.items()}
    logger.log_metrics(metrics)
    for path in _write_tables(out_dir, rows, threads, device):
        logger.log_artifact(path)
    console.print_kernel_table(name, rows, threads, str(device))
    return metrics


def _load_input(cfg: DictConfig, s: Settings) -> tuple[np.ndarray, np.ndarray, TestSong | None]:
    """(mix, vocals, song): a real file is used for everything and has no labels."""
    if cfg.audio.path:
        audio = load_audio(cfg.audio.path, s.sample_rate)
        return audio, audio, None
    cache = resolve_cache_dir(cfg.audio.cache_dir,
                              str(resolve_cache_dir(cfg.paths.cache_dir) / "songs"))
    song = load_or_generate(cache, cfg.audio.duration_s, s.sample_rate, seed=cfg.audio.seed,
                            hop_length=s.hop_length)
    return song.mix, song.vocals, song


def _measure(impl: Impl, warmup: int, repeats: int, s: Settings,
             song: TestSong | None) -> dict[str, Any]:
    """Warm-up, timed repeats (an interpreted kernel runs once, untimed warm-up skipped)."""
    if impl.interpreted:
        warmup, repeats = 0, 1
    output = None
    for _ in range(warmup):
        output = impl.run()
    samples_ms = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        output = impl.run()
        samples_ms.append((time.perf_counter_ns() - start) / 1e6)
    q25, median, q75 = np.percentile(samples_ms, [25, 50, 75])
    row = {"family": impl.family, "impl": impl.name, "interpreted": impl.interpreted,
           "note": impl.note, "audio_s": impl.audio_s, "repeats": repeats,
           "median_ms": float(median), "iqr_ms": float(q75 - q25),
           "ms_per_audio_s": float(median) / impl.audio_s,
           "_flops": impl.flops, "_bytes": impl.bytes_moved, "_output": impl.output(output)}
    if impl.family == "f0" and song is not None:
        f0_hz, voiced = row["_output"]
        labels_f0, labels_voiced = song.f0_hz[: len(f0_hz)], song.voiced[: len(f0_hz)]
        own = pitch_metrics(f0_hz, voiced, labels_f0, labels_voiced)
        every = pitch_metrics(f0_hz, np.ones(len(f0_hz), dtype=bool), labels_f0, labels_voiced)
        row |= {key: own[key] for key in ("pitch_rmse_hz", "pitch_rpa_50c", "voicing_recall",
                                          "voicing_false_alarm")}
        # Same support for every implementation (some have no voicing decision): the fair
        # accuracy comparison.
        row["pitch_rmse_ref_voiced_hz"] = every["pitch_rmse_hz"]
    return row


def _accuracy_reference(family: str, s: Settings, rows: list[dict[str, Any]],
                        impls: list[Impl], audio: np.ndarray) -> None:
    """Max abs / peak-relative error of each spectral output against float64 torch."""
    if family == "f0":
        return
    references: dict[int, np.ndarray] = {}
    for row, impl in zip(rows, impls, strict=True):
        out = row["_output"]
        n = round(impl.audio_s * s.sample_rate)
        if n not in references:
            x = torch.from_numpy(audio[:n]).double()
            ref = (fn.power_spectrogram(x, s.n_fft, s.hop_length,
                                        fn.hann_window(s.n_fft).double())
                   if family == "stft" else
                   fn.log_mel_spectrogram(x, s.sample_rate, s.n_fft, s.hop_length, s.n_mels))
            references[n] = ref.numpy()
        ref = references[n]
        error = np.abs(out - ref)
        if family == "log_mel":
            error = error[ref > ref.max() - _LOG_MEL_RANGE]
        row["max_abs_err"] = float(error.max())
        row["max_rel_err"] = float(error.max() / np.abs(ref).max())


def _relative(rows: list[dict[str, Any]], cfg: DictConfig, device: torch.device,
              triton_dtype: torch.dtype) -> list[dict[str, Any]]:
    """Speed-ups (time per audio second), GB/s and, for Triton on a GPU, % of peak."""
    timed = {r["impl"]: r["ms_per_audio_s"] for r in rows if not r["interpreted"]}
    peak_tflops = dict(cfg.gpu.peak_tflops or {}).get(
        "fp16" if triton_dtype == torch.float16 else "fp32")
    for row in rows:
        if row["interpreted"]:
            row["impl"] = f"{row['impl']}_interpreted"
            continue
        rate = row["ms_per_audio_s"]
        if "torch" in timed:
            row["speedup_vs_torch"] = timed["torch"] / rate
        if row["impl"] in ("torch", "triton"):
            for other, other_rate in timed.items():
                if other not in ("torch", row["impl"]):
                    row[f"speedup_vs_{other}"] = other_rate / rate
        seconds = row["median_ms"] / 1e3
        row["gbs"] = row["_bytes"] / seconds / 1e9
        if cfg.gpu.memory_bandwidth_gbs and device.type == "cuda":
            row["pct_peak_bandwidth"] = 100.0 * row["gbs"] / cfg.gpu.memory_bandwidth_gbs
        if row["_flops"]:
            row["gflops"] = row["_flops"] / seconds / 1e9
            if peak_tflops and device.type == "cuda":
                row["pct_peak_flops"] = 100.0 * row["gflops"] / (peak_tflops * 1e3)
    return rows


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


METRIC_NAMES = {"median_ms": "time_ms.p50", "iqr_ms": "time_ms.iqr"}


def _metrics(rows: list[dict[str, Any]]) -> dict[str, float]:
    """``kernels.<family>.<impl>.<figure>``: one column per figure in mlflow ui and pandas.
    The table's ``median_ms``/``iqr_ms`` are ``time_ms.p50``/``time_ms.iqr`` there (the metric
    naming scheme); the counts and sizes (``repeats``, ``audio_s``) stay in kernels.csv."""
    skip = {"family", "impl", "interpreted", "note", "repeats", "audio_s"}
    return {f"kernels.{row['family']}.{row['impl']}.{METRIC_NAMES.get(key, key)}": float(value)
            for row in rows for key, value in _public(row).items()
            if key not in skip and value is not None and np.isfinite(value)}


def _write_tables(out_dir: Path, rows: list[dict[str, Any]], threads: int,
                  device: torch.device) -> list[Path]:
    """kernels.csv (one row per family x impl, for pandas) and kernels.json (same + context)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    public = [_public(row) | {"threads": threads, "device": str(device)} for row in rows]
    columns = list(dict.fromkeys(key for row in public for key in row))
    csv_path = out_dir / "kernels.csv"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(public)
    json_path = out_dir / "kernels.json"
    json_path.write_text(json.dumps({"threads": threads, "device": str(device),
                                     "rows": public}, indent=2, default=float))
    return [csv_path, json_path]
