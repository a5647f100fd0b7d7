"""Each neural component on every CPU precision path, timed interleaved in one process.

    PYTHONPATH=. python benchmarks/precision_paths.py preset=quality audio=5s [rounds=5]
        [paths="openvino f32,openvino int8"]   # a subset (eager fp32, the baseline, always runs)

Builds the pipeline once per path (eager fp32 / bf16, OpenVINO f32 / bf16 / int8, ONNX Runtime
fp32 and its OpenVINO provider's bf16 hint), records each component's inputs on the
evaluation song, then calls every path's component on those inputs in turn, round after
round, so a busy machine slows all alike. Prints the median ms per call, the speed-up over
eager fp32 and, for audio-producing components, the quality gate's measures against eager
fp32's output; what decides the per-component choice documented in docs/backends.md.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from avbench import backends
from avbench.audio.synth import load_or_generate
from avbench.backends.calibration_set import record
from avbench.evaluators.quality_gate import measure
from avbench.phases.build import build_pipeline
from avbench.phases.prepare import calibration, holds
from avbench.pipelines.base import FrameRange
from avbench.runtime import resolve_cache_dir
from benchmarks.compose import CONF, option, run_config

PATHS = {  # name: (backend, dtype, quantize)
    "eager fp32": ("pytorch", torch.float32, None),
    "eager bf16": ("pytorch", torch.bfloat16, None),
    "openvino f32": ("openvino", torch.float32, None),
    "openvino bf16": ("openvino", torch.bfloat16, None),
    "openvino int8": ("openvino", torch.float32, "int8"),
    "ort fp32": ("onnxruntime", torch.float32, None),
    "ort-openvino bf16": ("onnxruntime", torch.bfloat16, None),
}
FIELDS = {"vocoder": "vocoder"}


class _Ctx:  # what phases.prepare.calibration reads
    def __init__(self, cfg, cache_dir: Path) -> None:
        self.cfg, self.cache_dir = cfg, cache_dir


def main(overrides: list[str]) -> None:
    rounds = int(option(overrides, "rounds", "5"))
    chosen = option(overrides, "paths", ",".join(PATHS)).split(",")
    paths = {name: PATHS[name] for name in dict.fromkeys(["eager fp32", *chosen])}
    cfg, conf = run_config(overrides, ("rounds", "paths")), CONF
    cache = resolve_cache_dir(cfg.paths.cache_dir)
    device = torch.device("cpu")
    song = load_or_generate(cache / "songs", cfg.audio.duration_s, cfg.audio.sample_rate,
                            seed=cfg.audio.seed, hop_length=cfg.preset.svc.hop_length)
    reference = build_pipeline(cfg, device, torch.float32, "torch", cache)
    inputs = record(reference, [torch.from_numpy(song.mix)]).inputs
    calls = {}
    int8 = run_config([*overrides, "precision=int8"], ("rounds", "paths"))  # its hold, keep_float
    for name, (backend, dtype, quantize) in paths.items():
        pipe = build_pipeline(cfg, device, dtype, "torch", cache)
        frames = inputs["vocoder"][0][0].shape[-1]
        report = backends.prepare(
            pipe, compose_backend(conf, backend), device, dtype, cache,
            FrameRange(frames, frames, frames), quantize,
            calibration(_Ctx(cfg, cache), pipe) if quantize else None,
            frozenset(k for k, v in pipe.weights.items() if v != "seeded"),
            holds=holds(int8, pipe) if quantize else None,
            keep_float=frozenset(int8.precision.keep_float) if quantize else frozenset())
        print(f"{name:18s} {report.effective_summary} {report.precision or ''}", flush=True)
        calls[name] = {c: (pipe.components[c], dtype) for c in inputs}
    times = {name: {c: [] for c in inputs} for name in paths}
    outputs = {name: {} for name in paths}
    for _ in range(rounds):
        for component in inputs:
            for name in paths:
                run, dtype = calls[name][component]
                args = tuple(x.to(dtype) if x.is_floating_point() else x
                             for x in inputs[component][0])
                with torch.inference_mode():
                    start = time.perf_counter()
                    out = run(*args)
                    times[name][component].append(1e3 * (time.perf_counter() - start))
                outputs[name][component] = out.float()
    report_table(times, outputs, reference.sample_rate)


def compose_backend(conf: Path, name: str):
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return compose("config", overrides=[f"backend={name}", "tracking=none"]).backend


def report_table(times, outputs, sample_rate: int) -> None:
    components = list(next(iter(times.values())))
    for component in components:
        base = statistics.median(times["eager fp32"][component])
        print(f"\n{component}: median ms per call (x over eager fp32) [gate measures]")
        for name in times:
            ms = statistics.median(times[name][component])
            gate = ""
            if component in FIELDS and name != "eager fp32":
                values = measure(FIELDS[component], outputs[name][component],
                                 outputs["eager fp32"][component], sample_rate)
                gate = " ".join(f"{k} {v:.3f}" for k, v in values.items())
            print(f"  {name:18s} {ms:10.1f} ms  {base / ms:5.2f}x  {gate}")


if __name__ == "__main__":
    main(sys.argv[1:])
