"""The roofline chart: each neural component of each run as a point under this machine's roofs.

Reads the ``roofline.<component>.*`` metrics runs logged (avbench/evaluators/roofline.py) and
the peaks ``task=doctor`` cached (avbench/measure/roofline.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from avbench.measure.roofline import Peaks

PREFIX = "metrics.roofline."


def points(runs: Any) -> list[dict[str, Any]]:
    """One point per (run, component): intensity, achieved GFLOP/s and % of peak."""
    found = []
    components = sorted({c[len(PREFIX):].rsplit(".", 1)[0] for c in runs.columns
                         if c.startswith(PREFIX) and c.endswith(".intensity")})
    for _, row in runs.iterrows():
        label = row.get("tags.mlflow.runName") or row.get("run_id", "")
        for name in components:
            intensity = row.get(f"{PREFIX}{name}.intensity")
            achieved = row.get(f"{PREFIX}{name}.achieved_gflops")
            if intensity is None or achieved is None or np.isnan(intensity):
                continue
            found.append({"run": label, "component": name, "intensity": float(intensity),
                          "achieved_gflops": float(achieved),
                          "pct_of_peak": row.get(f"{PREFIX}{name}.pct_of_peak")})
    return found


def plot_roofline(runs: Any, peaks: Peaks, path: Path) -> Path:
    """Log-log roofline: a roof per precision (its peak, and the triad bandwidth slope), and
    every component of every run as a point; saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    intensities = np.logspace(-1, 4, 200)
    for precision in ("fp32", "bf16", "int8"):
        peak = peaks.peak(precision)
        if peak:
            axes.plot(intensities, np.minimum(peak, intensities * peaks.triad_gbs),
                      linewidth=1, label=f"{precision} roof {peak:,.0f} GFLOP/s")
    for point in points(runs):
        axes.scatter(point["intensity"], point["achieved_gflops"], s=18)
        axes.annotate(f"{point['component']} ({point['run']})",
                      (point["intensity"], point["achieved_gflops"]), fontsize=6)
    axes.set(xscale="log", yscale="log", xlabel="arithmetic intensity (FLOP/byte)",
             ylabel="GFLOP/s", title=f"Roofline (triad {peaks.triad_gbs:,.1f} GB/s, "
                                     f"{peaks.threads} thread(s))")
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
