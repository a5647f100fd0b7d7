"""Plots of a set of runs, saved as PNG (matplotlib Agg canvas: no display, no pyplot state).

Each function takes the tidy frame of ``avbench.analysis.runs`` (or per-repeat
samples) and a path, and returns the path written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from avbench.analysis.bands import graded_values
from avbench.analysis.compare import pareto_front, with_hardware


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list]:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)  # explicit Agg canvas: PNGs render the same on a headless CI box
    axes = figure.subplots(1, ncols, squeeze=False)[0]
    return figure, list(axes)


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


def stage_columns(frame: pd.DataFrame) -> list[str]:
    """``stage_ms.<stage>`` median columns (not their .p90/.cv... companions), in stage order."""
    return [c for c in frame.columns if c.startswith("stage_ms.") and c.count(".") == 1]


def stage_breakdown(frame: pd.DataFrame, path: Path) -> Path:
    """Stacked horizontal bars: median ms of each stage, one bar per cell."""
    stages = stage_columns(frame)
    frame = frame.dropna(subset=stages, how="all")
    figure, (axis,) = _figure(8, 0.5 * len(frame) + 1.8)
    left = np.zeros(len(frame))
    for stage in stages:
        values = frame[stage].fillna(0).to_numpy(dtype=float)
        axis.barh(frame["cell"], values, left=left, label=stage.removeprefix("stage_ms."))
        left += values
    axis.set_xlabel("median ms per run")
    axis.set_title("stage breakdown")
    axis.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return _save(figure, path)


def rtf_grid(frame: pd.DataFrame, path: Path) -> Path:
    """RTF (median, 95% CI whiskers) by preset, one bar per precision, one panel per hardware."""
    frame = with_hardware(frame.dropna(subset=["rtf"]))
    hardware = sorted(frame["hardware"].unique())
    figure, axes = _figure(4.5 * len(hardware) + 1, 3.6, ncols=len(hardware))
    precisions = sorted(frame["precision"].unique())
    width = 0.8 / len(precisions)
    for axis, name in zip(axes, hardware, strict=True):
        block = frame[frame["hardware"] == name]
        presets = sorted(block["preset"].unique())
        for offset, precision in enumerate(precisions):
            cells = block[block["precision"] == precision].groupby("preset")[
                ["rtf", "rtf.ci_low", "rtf.ci_high"]].median().reindex(presets)
            errors = np.vstack([cells["rtf"] - cells["rtf.ci_low"],
                                cells["rtf.ci_high"] - cells["rtf"]]).clip(min=0)
            axis.bar(np.arange(len(presets)) + offset * width, cells["rtf"], width,
                     yerr=errors, capsize=3, label=precision)
        axis.set_xticks(np.arange(len(presets)) + width * (len(precisions) - 1) / 2, presets)
        axis.axhline(1.0, color="grey", linestyle="--", linewidth=0.8)  # real time
        axis.set_title(name, fontsize="small")
        axis.set_ylabel("RTF (lower is faster)")
    axes[0].legend(title="precision", fontsize="small")
    return _save(figure, path)


def latency_cdf(samples_ms: dict[str, np.ndarray], path: Path) -> Path:
    """Empirical CDF of per-repeat total latency, one step line per cell."""
    figure, (axis,) = _figure(7, 4)
    for label, values in samples_ms.items():
        ordered = np.sort(np.asarray(values, dtype=float))
        axis.step(ordered, np.arange(1, ordered.size + 1) / ordered.size, where="post",
                  label=label)
    axis.set_xlabel("total ms per run")
    axis.set_ylabel("fraction of repeats")
    axis.set_ylim(0, 1.02)
    axis.legend(fontsize="small")
    return _save(figure, path)


# The Pareto plot's quality axis: a figure the run's backend and precision change (the
# separation runs inside the measured call), plotted for graded cells only.
PARETO_QUALITY = "quality.vocals_si_sdr_db"


def speed_quality(frame: pd.DataFrame, path: Path, quality: str = PARETO_QUALITY,
                  higher_is_better: bool = True) -> Path:
    """RTF against a quality metric, the Pareto front joined; ungraded values are left out."""
    frame = frame.assign(**{quality: graded_values(frame, quality)}).dropna(
        subset=["rtf", quality])
    front = pareto_front(frame, "rtf", quality, higher_is_better)
    figure, (axis,) = _figure(7, 4.5)
    axis.scatter(frame["rtf"], frame[quality], color="tab:grey", label="cell")
    best = frame[front].sort_values("rtf")
    axis.plot(best["rtf"], best[quality], "o-", color="tab:red", label="Pareto front")
    for _, row in frame.iterrows():
        axis.annotate(row["cell"], (row["rtf"], row[quality]), fontsize="x-small",
                      xytext=(4, 4), textcoords="offset points")
    axis.set_xlabel("RTF (lower is faster)")
    axis.set_ylabel(f"{quality} ({'higher' if higher_is_better else 'lower'} is better)")
    axis.margins(x=0.2, y=0.1)  # room for the cell labels at the edges
    axis.legend(fontsize="small")
    return _save(figure, path)


def sweep_plots(frame: pd.DataFrame, samples_ms: dict[str, np.ndarray],
                out_dir: Path) -> list[Path]:
    """Every plot that the data in ``frame`` supports, written under ``out_dir``."""
    finished = frame[frame["status"] == "FINISHED"]
    paths = []
    if stage_columns(finished):
        paths.append(stage_breakdown(finished, out_dir / "stage_breakdown.png"))
    if "rtf" in finished.columns and {"preset", "precision"} <= set(finished.columns):
        paths.append(rtf_grid(finished, out_dir / "rtf_by_preset_precision.png"))
    if samples_ms:
        paths.append(latency_cdf(samples_ms, out_dir / "latency_cdf.png"))
    quality = PARETO_QUALITY
    if quality in finished.columns and (finished["rtf"].notna()
                                        & graded_values(finished, quality).notna()).any():
        paths.append(speed_quality(finished, out_dir / "speed_vs_quality.png", quality))
    return paths
