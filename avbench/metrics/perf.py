"""Speed metrics of a run from its stage times."""

from __future__ import annotations

import numpy as np

from avbench.measure.timer import TOTAL, StageTimes


def perf_metrics(times: StageTimes, audio_duration_s: float) -> dict[str, float]:
    """RTF, ASPS, latency percentiles and per-stage medians and shares.

    rtf = processing time / audio duration (median total); asps = audio
    seconds processed per second (1 / rtf here, since one request runs at a time).
    """
    medians = times.median_ms()
    totals = np.asarray(times.samples_ms[TOTAL])
    total_s = medians[TOTAL] / 1000.0
    metrics = {
        "rtf": total_s / audio_duration_s,
        "asps": audio_duration_s / total_s,
        "total_ms": medians[TOTAL],
        "sum_vs_total_pct": times.sum_vs_total_pct(),
        "repeats": float(times.repeats),
    }
    for q in (50, 90, 95, 99):
        metrics[f"latency_ms_p{q}"] = float(np.percentile(totals, q))
    for name, pct in times.percentages().items():
        if name != TOTAL:
            metrics[f"stage_ms.{name}"] = medians[name]
            metrics[f"stage_pct.{name}"] = pct
    return metrics
