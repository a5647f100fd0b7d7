"""Plots of a set of runs, saved as PNG (matplotlib Agg canvas: no display, no pyplot state).

Each function takes the tidy frame of ``avbench.analysis.runs`` (or per-repeat
samples) and a path, and returns the path written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from avbench.analysis.compare import pareto_front, with_hardware
from avbench.analysis.quality import Spread, quality_values, spreads
from avbench.analysis.runs import invalid_runs, valid_runs


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


def speed_quality(frame: pd.DataFrame, path: Path) -> Path:
    """RTF against each quality axis the runs have (one panel each, fidelity to the fp32
    eager reference first). VALID cells are points, with the Pareto front joined when the
    axis's spread is above its noise (else the panel says so); INVALID cells are hollow
    markers labelled INVALID, never on a front."""
    valid = valid_runs(frame).dropna(subset=["rtf"])
    invalid = invalid_runs(frame).dropna(subset=["rtf"]) if "rtf" in frame else frame.iloc[:0]
    found = spreads(valid)
    figure, axes = _figure(6.5 * max(1, len(found)), 4.8, ncols=max(1, len(found)))
    for axis, spread in zip(axes, found, strict=False):
        _quality_panel(axis, valid, invalid, spread)
    return _save(figure, path)


def _quality_panel(axis: Any, valid: pd.DataFrame, invalid: pd.DataFrame,
                   spread: Spread) -> None:
    quality = spread.axis
    points = valid.assign(_q=quality_values(valid, quality)).dropna(subset=["_q"])
    axis.scatter(points["rtf"], points["_q"], color="tab:grey", label="VALID cell")
    if spread.trade_off:
        front = points[pareto_front(points, "rtf", "_q", quality.higher_is_better)]
        front = front.sort_values("rtf")
        axis.plot(front["rtf"], front["_q"], "o-", color="tab:red", label="Pareto front")
    others = invalid.assign(_q=quality_values(invalid, quality)).dropna(subset=["_q"])
    if not others.empty:
        axis.scatter(others["rtf"], others["_q"], facecolors="none", edgecolors="tab:orange",
                     label="INVALID cell")
    for _, row in pd.concat([points, others]).iterrows():
        tag = "" if row.get("validity", "VALID") == "VALID" else " (INVALID)"
        axis.annotate(f"{row['cell']}{tag}", (row["rtf"], row["_q"]), fontsize="x-small",
                      xytext=(4, 4), textcoords="offset points")
    unit = f" ({quality.unit})" if quality.unit else ""
    axis.set_xlabel("RTF (lower is faster)")
    axis.set_ylabel(f"{quality.label}{unit}, {'higher' if quality.higher_is_better else 'lower'}"
                    " is better", fontsize="small")
    axis.set_title(spread.text.removeprefix(f"{quality.label}: "), fontsize="x-small", wrap=True)
    axis.margins(x=0.2, y=0.1)  # room for the cell labels at the edges
    if not spread.trade_off:  # drawn at the scale of its noise: a spread below it looks flat
        middle = (spread.low + spread.high) / 2
        shown = [middle - 3 * spread.noise, middle + 3 * spread.noise, *others["_q"]]
        pad = 0.1 * (max(shown) - min(shown))
        axis.set_ylim(min(shown) - pad, max(shown) + pad)
    axis.legend(fontsize="small")


def sweep_plots(frame: pd.DataFrame, samples_ms: dict[str, np.ndarray],
                out_dir: Path) -> list[Path]:
    """Every plot that the data in ``frame`` supports, written under ``out_dir``. The
    per-cell plots show every finished cell; the RTF grid and the speed-vs-quality front
    summarise the VALID cells only."""
    finished = frame[frame["status"] == "FINISHED"]
    valid = valid_runs(frame)
    paths = []
    if stage_columns(finished):
        paths.append(stage_breakdown(finished, out_dir / "stage_breakdown.png"))
    if "rtf" in valid.columns and valid["rtf"].notna().any() and {
            "preset", "precision"} <= set(valid.columns):
        paths.append(rtf_grid(valid, out_dir / "rtf_by_preset_precision.png"))
    if samples_ms:
        paths.append(latency_cdf(samples_ms, out_dir / "latency_cdf.png"))
    if "rtf" in valid.columns and spreads(valid.dropna(subset=["rtf"])):
        paths.append(speed_quality(frame, out_dir / "speed_vs_quality.png"))
    return paths
