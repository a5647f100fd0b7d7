"""Where HiFi-GAN V1's int8 error comes from: NNCF with parts of the graph kept in f32.

    PYTHONPATH=. python benchmarks/int8_ignored_scope.py

Converts the pretrained generator to OpenVINO, quantises it as ``avbench/backends/quantize.py``
does (NNCF, mixed preset, fast bias correction) on the mels of four 2 s synthetic songs, once
per variant of ``nncf.IgnoredScope`` (convolutions kept in f32: none; conv_pre, conv_post and
the four upsamplers; those plus the last stage; plus the last two stages), and prints for each
the vocoder gate's measures on another song's mel against f32 OpenVINO's output and the int8
graph's speed over f32 OpenVINO (3 interleaved calls).
"""

from __future__ import annotations

import os
import statistics
import time

import nncf
import openvino as ov
import torch

from avbench.audio.synth import load_or_generate
from avbench.evaluators.quality_gate import measure
from avbench.models import hifigan_pretrained as hp
from avbench.openvino_core import openvino_core
from avbench.runtime import resolve_cache_dir

CONFIG = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": "2", "NUM_STREAMS": "1",
          "PERFORMANCE_HINT": "LATENCY"}
CONVS = ("Convolution", "ConvolutionBackpropData")
PER_STAGE = 19  # an upsampler, then 3 parallel blocks of 6 convolutions


def variants(model) -> dict[str, list[str]]:
    convs = [op.get_friendly_name() for op in model.get_ordered_ops()
             if op.get_type_name() in CONVS]
    stages = [convs[1 + PER_STAGE * k: 1 + PER_STAGE * (k + 1)] for k in range(4)]
    ends = [convs[0], convs[-1], *(stage[0] for stage in stages)]
    return {"none (today)": [], "pre, post, upsamplers": ends,
            "+ stage 4": ends + stages[3], "+ stages 3-4": ends + stages[2] + stages[3]}


def judged(int8, f32, test, reference: torch.Tensor, rounds: int
           ) -> tuple[dict[str, float], float]:
    """The vocoder gate's measures of ``int8``'s output on ``test`` against ``reference`` (f32
    OpenVINO's), and its speed over ``f32`` from ``rounds`` interleaved calls."""
    gate = measure("vocoder", torch.from_numpy(int8(test)[0]).reshape(1, -1), reference,
                   hp.SAMPLE_RATE)
    times: dict[str, list[float]] = {"f32": [], "int8": []}
    for _ in range(rounds):
        for side, compiled in (("f32", f32), ("int8", int8)):
            start = time.perf_counter()
            compiled(test)
            times[side].append(time.perf_counter() - start)
    return gate, statistics.median(times["f32"]) / statistics.median(times["int8"])


def main() -> None:
    torch.set_num_threads(2)
    cache = resolve_cache_dir()
    to_mel = hp.HiFiGANMel()

    def mel(seed: int):
        song = load_or_generate(cache / "songs", 2.0, hp.SAMPLE_RATE, seed=seed)
        return to_mel(torch.from_numpy(song.mix)[None]).numpy()

    calibration, test = [mel(seed) for seed in (11, 12, 13, 14)], mel(0)
    model = ov.convert_model(hp.pretrained_hifigan(cache), example_input=torch.from_numpy(test))
    core = openvino_core()
    f32 = core.compile_model(model, "CPU", CONFIG)
    reference = torch.from_numpy(f32(test)[0]).reshape(1, -1)
    for name, ignored in variants(model).items():
        quantised = nncf.quantize(model, nncf.Dataset(calibration),
                                  preset=nncf.QuantizationPreset.MIXED, subset_size=4,
                                  fast_bias_correction=True,
                                  ignored_scope=nncf.IgnoredScope(names=ignored) if ignored else None)
        int8 = core.compile_model(quantised, "CPU", CONFIG)
        gate, speedup = judged(int8, f32, test, reference, rounds=3)
        print(f"f32 kept: {name:24s} log-mel {gate['log_mel_db']:.3f} dB  MR-STFT "
              f"{gate['mr_stft_db']:.3f} dB  int8 {speedup:.2f}x f32 OpenVINO  "
              f"load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
