"""Time against input length, interleaved in one process: fit on short inputs, check a long one.

    PYTHONPATH=. python benchmarks/length_fit.py [preset=balanced] [rounds=3]

Builds the pipeline once (eager, the run's config otherwise), then each round times one run
at every length (1, 2, 5, 10 and 30 s synthetic songs) in turn, so a busy machine slows all
lengths alike. Fits time = overhead + slope x seconds per stage on the medians of 1-10 s
(avbench.analysis.scaling) and prints the prediction error at 30 s.
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

import torch

from avbench.analysis.scaling import fit_length, plot_scaling, prediction_error_pct
from avbench.audio.synth import load_or_generate
from avbench.phases.build import build_pipeline
from avbench.runtime import resolve_cache_dir
from benchmarks.compose import option, run_config

FIT_S = (1.0, 2.0, 5.0, 10.0)
CHECK_S = 30.0


def main(overrides: list[str]) -> None:
    rounds = int(option(overrides, "rounds", "3"))
    cfg = run_config(overrides)
    cache = resolve_cache_dir(cfg.paths.cache_dir)
    pipe = build_pipeline(cfg, torch.device("cpu"), torch.float32, "torch", cache)
    songs = {s: torch.from_numpy(load_or_generate(cache / "songs", s, pipe.sample_rate,
                                                  seed=cfg.audio.seed).mix)
             for s in (*FIT_S, CHECK_S)}
    for audio in songs.values():  # warm-up at every length
        pipe.run(audio)
    times: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for _ in range(rounds):
        for seconds, audio in songs.items():
            pipe.run(audio, lambda stage, ms, s=seconds: times[stage][s].append(ms))
    for stage, by_length in times.items():
        medians = {s: statistics.median(v) for s, v in by_length.items()}
        fit = fit_length(FIT_S, [medians[s] for s in FIT_S])
        error = prediction_error_pct(fit, CHECK_S, medians[CHECK_S])
        print(f"{stage:14s} overhead {fit.overhead_ms:8.1f} ms  {fit.ms_per_audio_s:8.1f} ms/s  "
              f"R2 {fit.r2:.4f}  30 s: predicted {fit.predict(CHECK_S):9.1f} ms, measured "
              f"{medians[CHECK_S]:9.1f} ms ({error:+.1f} %)")
        if stage == "total":
            plot_scaling({"total": fit}, Path("length_fit.png"), until_s=CHECK_S)


if __name__ == "__main__":
    main(sys.argv[1:])
