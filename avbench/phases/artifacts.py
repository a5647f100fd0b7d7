"""Files a run leaves in its output directory and logs to MLflow."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from avbench.audio.io import write_audio
from avbench.measure.timer import TOTAL, StageTimes
from avbench.pipelines.base import PipelineOutput


def performance_breakdown(device: torch.device, duration_s: float, times: StageTimes,
                          rtf: float) -> dict[str, Any]:
    """The performance_breakdown.json record: medians per stage and their shares."""
    medians = times.median_ms()
    return {
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%S"),
        "device": str(device),
        "audio_duration_seconds": duration_s,
        "stage_timings_ms": {name: medians[name] for name in [*times.stages, TOTAL]},
        "stage_percentages": times.percentages(),
        "total_time_seconds": medians[TOTAL] / 1000.0,
        "rtf": rtf,
        "repeats": times.repeats,
    }


def write_timings_csv(path: Path, times: StageTimes) -> Path:
    rows = times.rows()
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_json(path: Path, record: Any) -> Path:
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path


def write_artifacts(cfg: DictConfig, out_dir: Path, device: torch.device, duration_s: float,
                    times: StageTimes, metrics: dict[str, float],
                    output: PipelineOutput) -> list[Path]:
    """Write every artifact of a finished run into ``out_dir``; returns those to log."""
    out_dir.mkdir(parents=True, exist_ok=True)
    audio = output.audio.detach().float().cpu().squeeze().numpy()
    # A pipeline whose output is not a mono waveform (a model's mel, logits...) has no wav.
    waveform = audio.ndim == 1 and bool(np.isfinite(audio).all())
    if waveform:
        write_audio(out_dir / "output.wav", audio, output.sample_rate)
    logged = [
        write_json(out_dir / "performance_breakdown.json",
                   performance_breakdown(device, duration_s, times, metrics["rtf"])),
        write_timings_csv(out_dir / "timings.csv", times),
        write_json(out_dir / "metrics.json", metrics),
    ]
    sample_s = cfg.tracking.output_sample_s
    if sample_s > 0 and waveform:
        sample = audio[: int(sample_s * output.sample_rate)]
        write_audio(out_dir / "output_sample.wav", sample, output.sample_rate)
        logged.append(out_dir / "output_sample.wav")
    return logged


def write_run_files(cfg: DictConfig, out_dir: Path, env: dict[str, Any]) -> list[Path]:
    """Files known before the run starts: the resolved config and the environment."""
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = out_dir / "config.yaml"
    config_path.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    return [config_path, write_json(out_dir / "environment.json", env)]
