"""The vocoder's share of this machine's fp32 GEMM peak, both measured in one process, interleaved.

    PYTHONPATH=. python benchmarks/vocoder_roofline.py preset=quality audio=5s [rounds=8]

``task=doctor`` caches the peaks once; on a shared machine the peak of that moment and the
vocoder's time of a later run see different loads. Here each round times, back to back, a
1024^3 fp32 GEMM through PyTorch and through OpenVINO's CPU plugin (the best of 5 calls of
each: the peak of the moment) and one vocoder call on every fp32 path (eager, OpenVINO,
ONNX Runtime's OpenVINO EP), on the vocoder's inputs from the evaluation song. Prints per
path the vocoder's FLOPs per call (FlopCounterMode), its median ms and achieved GFLOP/s, and
its share of the best GEMM peak of the same round (median over rounds, 95 % bootstrap CI),
and, as ``task=doctor`` defines a peak (the fastest call), the best call's GFLOP/s as a share
of the best GEMM round: both the machine at its least disturbed.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import openvino as ov
import torch

from avbench import backends
from avbench.audio.synth import load_or_generate
from avbench.backends.calibration_set import record
from avbench.measure.roofline import GEMM_N, count_flops
from avbench.measure.stats import median_ci
from avbench.openvino_core import openvino_core
from avbench.phases.build import build_pipeline
from avbench.pipelines.base import FrameRange
from avbench.runtime import resolve_cache_dir
from benchmarks.compose import CONF, option, run_config
from benchmarks.precision_paths import compose_backend

PATHS = ("pytorch", "openvino", "onnxruntime")
GEMM_CALLS = 5


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def gemm_peak_gflops(calls: dict) -> float:
    """The best GFLOP/s of ``GEMM_CALLS`` calls of each GEMM, now."""
    best = min(_seconds(fn) for fn in calls.values() for _ in range(GEMM_CALLS))
    return 2 * GEMM_N**3 / best / 1e9


def gemms() -> dict:
    a, b = torch.randn(GEMM_N, GEMM_N), torch.randn(GEMM_N, GEMM_N)
    linear = torch.nn.Linear(GEMM_N, GEMM_N, bias=False).eval()
    compiled = openvino_core().compile_model(ov.convert_model(linear, example_input=a), "CPU", {
        "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": str(torch.get_num_threads()),
        "NUM_STREAMS": "1", "PERFORMANCE_HINT": "LATENCY"})
    request, feed = compiled.create_infer_request(), [a.numpy()]
    return {"torch": lambda: torch.mm(a, b), "openvino": lambda: request.infer(feed)}


def vocoders(cfg, conf: Path, cache: Path):
    """The vocoder on each fp32 path, its recorded inputs and its FLOPs per call."""
    song = load_or_generate(cache / "songs", cfg.audio.duration_s, cfg.audio.sample_rate,
                            seed=cfg.audio.seed, hop_length=cfg.preset.svc.hop_length)
    reference = build_pipeline(cfg, torch.device("cpu"), torch.float32, "torch", cache)
    args = record(reference, [torch.from_numpy(song.mix)]).inputs["vocoder"][0]
    flops = count_flops(reference.components["vocoder"].module, args)
    calls = {}
    for path in PATHS:
        pipe = build_pipeline(cfg, torch.device("cpu"), torch.float32, "torch", cache)
        frames = args[0].shape[-1]
        backends.prepare(pipe, compose_backend(conf, path), torch.device("cpu"), torch.float32,
                         cache, FrameRange(frames, frames, frames))
        calls[path] = pipe.components["vocoder"]
    return calls, args, flops


def main(overrides: list[str]) -> None:
    rounds = int(option(overrides, "rounds", "8"))
    cfg, conf = run_config(overrides), CONF
    calls, args, flops = vocoders(cfg, conf, resolve_cache_dir(cfg.paths.cache_dir))
    peak_calls = gemms()
    ms: dict[str, list[float]] = {path: [] for path in PATHS}
    share: dict[str, list[float]] = {path: [] for path in PATHS}
    peaks: list[float] = []
    with torch.inference_mode():
        for run in calls.values():
            run(*args)  # first calls (OpenVINO compiles for the shape) untimed
        for _ in range(rounds):
            peaks.append(gemm_peak_gflops(peak_calls))
            for path, run in calls.items():
                ms[path].append(1e3 * _seconds(lambda run=run: run(*args)))
                share[path].append(100 * flops / (ms[path][-1] / 1e3) / 1e9 / peaks[-1])
    print(f"vocoder {flops / 1e9:.1f} GFLOP per call; fp32 GEMM peak per round: median "
          f"{statistics.median(peaks):.1f} GFLOP/s (range {min(peaks):.1f}-{max(peaks):.1f}); "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"  {'path':12s} {'median ms':>9s} {'GFLOP/s':>8s}  % of the round's peak [CI]  "
          f"best call: GFLOP/s, % of the best peak")
    for path in PATHS:
        low, high = median_ci(np.array(share[path]))
        median_ms, best_gflops = statistics.median(ms[path]), flops / min(ms[path]) / 1e6
        print(f"  {path:12s} {median_ms:9.1f} {flops / median_ms / 1e6:8.1f}  "
              f"{statistics.median(share[path]):5.1f} [{low:.1f}, {high:.1f}]  "
              f"{best_gflops:8.1f} {100 * best_gflops / max(peaks):5.1f} %")


if __name__ == "__main__":
    main(sys.argv[1:])
