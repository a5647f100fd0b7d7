"""Interpretation bands users expect (the AutoVoice benchmarking guide's thresholds).

Lower is better for RTF, pitch RMSE and GPU memory: each band's upper bound is
exclusive except the last named one (RTF 2.0 is still fair, 2.01 is poor).
GPU utilisation is higher-is-better: > 70 % good, 50-70 % fair, < 50 % poor
(the guide names no "excellent" band for it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

EXCELLENT, GOOD, FAIR, POOR = "excellent", "good", "fair", "poor"


@dataclass(frozen=True)
class Bands:
    metric: str
    label: str
    unit: str
    bounds: tuple[tuple[float, str], ...]  # (upper bound, band), ascending
    worse: str  # band above the last bound
    scale: float = 1.0  # metric value * scale = value in the bands' unit

    def of(self, value: float) -> str | None:
        if value is None or math.isnan(value):
            return None
        scaled = value * self.scale
        *closed_open, (last_bound, last_band) = self.bounds
        for bound, band in closed_open:
            if scaled < bound:
                return band
        return last_band if scaled <= last_bound else self.worse


RTF = Bands("rtf", "RTF", "", ((0.5, EXCELLENT), (1.0, GOOD), (2.0, FAIR)), POOR)
PITCH_RMSE = Bands("pitch_rmse_hz", "pitch RMSE", "Hz",
                   ((5.0, EXCELLENT), (10.0, GOOD), (20.0, FAIR)), POOR)
CLEAN_PITCH_RMSE = Bands("f0_clean.pitch_rmse_hz", "pitch RMSE (clean stem)", "Hz",
                         PITCH_RMSE.bounds, POOR)
# The guide's bands are for GPU memory (CUDA max allocated); CPU runs record process RSS,
# which they do not describe, so memory is banded on GPU runs only.
GPU_MEMORY = Bands("memory_peak_mb", "GPU memory peak", "GB",
                   ((4.0, EXCELLENT), (6.0, GOOD), (8.0, FAIR)), POOR, scale=1 / 1024)
HEADLINE = (RTF, PITCH_RMSE, CLEAN_PITCH_RMSE, GPU_MEMORY)

GPU_UTIL_METRIC = "monitor.gpu_util_pct.mean"
GRADED = "graded"


def ungraded(run: Mapping[str, Any], metric: str) -> str | None:
    """None when ``metric`` of ``run`` (a row of ``analysis.runs``) may be graded, else why not
    (``not graded (seeded: <components>)``: a component its figure depends on has no real
    weights). Runs recorded before grading existed carry no tag and stay graded."""
    verdict = run.get(f"grading.{metric}")
    if not isinstance(verdict, str) or verdict == GRADED:
        return None
    return verdict


def graded_values(frame: pd.DataFrame, metric: str) -> pd.Series:
    """``frame[metric]`` with every ungraded value set to NaN (tables and plots use these)."""
    column = f"grading.{metric}"
    if column not in frame.columns:
        return frame[metric]
    verdicts = frame[column]
    return frame[metric].where(verdicts.isna() | (verdicts == GRADED))


def gpu_util_band(util_pct: float) -> str | None:
    """> 70 %: the GPU is used well; < 50 %: the bottleneck is elsewhere (CPU, I/O)."""
    if util_pct is None or math.isnan(util_pct):
        return None
    if util_pct > 70.0:
        return GOOD
    return FAIR if util_pct >= 50.0 else POOR
