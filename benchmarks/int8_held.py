"""HiFi-GAN V1 in int8, plain and held to the gate's measure, judged on a song it never saw.

    PYTHONPATH=. python benchmarks/int8_held.py [seconds=2] [margin=0.7]

Converts the pretrained generator to OpenVINO and quantises it the way ``precision=int8``
does (``avbench.backends.quantize.quantise``: NNCF, mixed preset, fast bias correction) on
the mels of four 2 s synthetic songs, once plainly and once held by NNCF's accuracy control
to ``margin`` x the int8 gate's 1.0 dB log-mel limit. Prints, for each, the vocoder gate's
measures on another song's mel against f32 OpenVINO's output, the int8 graph's speed over f32
OpenVINO (5 interleaved calls) and how long quantising took. The held build evaluates many
candidate graphs: it takes minutes to an hour on 2 vCPUs.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import openvino as ov
import torch

from avbench.audio.synth import load_or_generate
from avbench.backends.quantize import F32, Hold, quantise
from avbench.models import hifigan_pretrained as hp
from avbench.openvino_core import openvino_core
from avbench.runtime import resolve_cache_dir
from benchmarks.compose import option
from benchmarks.int8_ignored_scope import judged

CONFIG = {**F32, "INFERENCE_NUM_THREADS": "2", "NUM_STREAMS": "1",
          "PERFORMANCE_HINT": "LATENCY"}


def main(args: list[str]) -> None:
    seconds, margin = float(option(args, "seconds", "2")), float(option(args, "margin", "0.7"))
    torch.set_num_threads(2)
    cache = resolve_cache_dir()
    to_mel = hp.HiFiGANMel()

    def mel(seed: int) -> torch.Tensor:
        song = load_or_generate(cache / "songs", seconds, hp.SAMPLE_RATE, seed=seed)
        return to_mel(torch.from_numpy(song.mix)[None])

    calibration, test = [(mel(seed),) for seed in (11, 12, 13, 14)], mel(0).numpy()
    model = ov.convert_model(hp.pretrained_hifigan(cache), example_input=calibration[0][0])
    core = openvino_core()
    f32 = core.compile_model(model, "CPU", CONFIG)
    reference = torch.from_numpy(f32(test)[0]).reshape(1, -1)
    frames = hp.SAMPLE_RATE // 256 + 1
    with tempfile.TemporaryDirectory() as work:
        for name, hold in (("plain", None), ("held", Hold("vocoder", hp.SAMPLE_RATE,
                                                           margin * 1.0, frames))):
            start = time.perf_counter()
            quantise(model, calibration, Path(work) / f"{name}.xml", hold)
            built_s = time.perf_counter() - start
            int8 = core.compile_model(core.read_model(Path(work) / f"{name}.xml"), "CPU", CONFIG)
            gate, speedup = judged(int8, f32, test, reference, rounds=5)
            print(f"{name:6s} log-mel {gate['log_mel_db']:.3f} dB  MR-STFT {gate['mr_stft_db']:.3f}"
                  f" dB  int8 {speedup:.2f}x f32 OpenVINO  quantised in {built_s:.0f} s  "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
