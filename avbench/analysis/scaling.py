"""Time against input length: a fixed overhead plus a cost per audio second, per stage.

``fit_length(seconds, times_ms)`` fits ``time = overhead + slope x seconds`` by least squares
and reports R² and the residuals; ``fit_runs(runs)`` does it for the total and every stage
of a sweep over ``audio.duration_s`` (a runs frame from ``avbench.analysis.runs``), and
``predict`` extrapolates to a longer input. ``plot_scaling`` draws the points and the lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class LengthFit:
    """``time_ms = overhead_ms + ms_per_audio_s x seconds``."""

    overhead_ms: float
    ms_per_audio_s: float
    r2: float
    seconds: list[float]
    times_ms: list[float]
    residuals_ms: list[float]

    def predict(self, seconds: float) -> float:
        return self.overhead_ms + self.ms_per_audio_s * seconds


def fit_length(seconds: Any, times_ms: Any) -> LengthFit:
    """Least-squares line through (seconds, time); needs two or more distinct lengths."""
    x = np.asarray(seconds, dtype=np.float64)
    y = np.asarray(times_ms, dtype=np.float64)
    if x.shape != y.shape or len(np.unique(x)) < 2:
        raise ValueError("a length fit needs times at two or more different audio lengths")
    slope, overhead = np.polyfit(x, y, 1)
    predicted = overhead + slope * x
    residuals = y - predicted
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((residuals**2).sum()) / total if total > 0 else 1.0
    return LengthFit(float(overhead), float(slope), r2, x.tolist(), y.tolist(),
                     residuals.tolist())


def fit_runs(runs: Any, length_column: str = "audio_duration_s",
             prefix: str = "metrics.") -> dict[str, LengthFit]:
    """``{"total": fit, "<stage>": fit, ...}`` over a runs frame whose rows differ in length:
    the median per-run times ``total_ms`` and ``stage_ms.<stage>``."""
    column = f"{prefix}{length_column}"
    if column not in runs:
        raise ValueError(f"no {column} column: give runs of a sweep over audio.duration_s")
    fits: dict[str, LengthFit] = {}
    for name in [c for c in runs.columns if c == f"{prefix}total_ms"
                 or (c.startswith(f"{prefix}stage_ms.") and c.count(".") == 2)]:
        rows = runs[[column, name]].dropna()
        if rows[column].nunique() >= 2:
            label = "total" if name.endswith("total_ms") else name.rsplit(".", 1)[1]
            fits[label] = fit_length(rows[column], rows[name])
    return fits


def prediction_error_pct(fit: LengthFit, seconds: float, measured_ms: float) -> float:
    """How far the fit's prediction at ``seconds`` is from a measured time, in %."""
    return 100.0 * (fit.predict(seconds) - measured_ms) / measured_ms


def plot_scaling(fits: dict[str, LengthFit], path: Path, until_s: float | None = None) -> Path:
    """Each fit's points and line (to ``until_s`` when given) on one chart, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for label, fit in fits.items():
        end = max(fit.seconds + [until_s or 0.0])
        xs = np.linspace(0.0, end, 50)
        line = axes.plot(xs, fit.overhead_ms + fit.ms_per_audio_s * xs, linewidth=1)[0]
        axes.scatter(fit.seconds, fit.times_ms, color=line.get_color(),
                     label=f"{label}: {fit.overhead_ms:,.0f} ms + {fit.ms_per_audio_s:,.0f} ms/s"
                           f" (R² {fit.r2:.3f})")
    axes.set(xlabel="audio seconds", ylabel="median time per run (ms)",
             title="Time against input length")
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
