"""Speed metrics of a run from its stage times."""

from __future__ import annotations

from avbench.measure.stats import summarize
from avbench.measure.timer import TOTAL, StageTimes

STAGE_STATS = ("p90", "p95", "p99", "iqr", "cv", "ci_low", "ci_high")


def perf_metrics(times: StageTimes, audio_duration_s: float) -> dict[str, float]:
    """RTF, ASPS, latency percentiles, spread and per-stage medians, shares and tails.

    rtf = processing time / audio duration (median total); asps = audio
    seconds processed per second (1 / rtf here, since one request runs at a time).
    rtf.cv is the coefficient of variation of the per-repeat totals and
    rtf.ci_low/high the 95% bootstrap interval of the median, in RTF units.
    The repeat count is not a metric: the caller tags it (``bench.repeats``).
    """
    total = summarize(times.samples_ms[TOTAL])
    total_s = total.median / 1000.0
    metrics = {
        "rtf": total_s / audio_duration_s,
        "asps": audio_duration_s / total_s,
        "total_ms": total.median,
        "rtf.cv": total.cv,
        "rtf.ci_low": total.ci_low / 1000.0 / audio_duration_s,
        "rtf.ci_high": total.ci_high / 1000.0 / audio_duration_s,
        "sum_vs_total_pct": times.sum_vs_total_pct(),
    }
    for q in ("p50", "p90", "p95", "p99"):
        metrics[f"latency_ms.{q}"] = getattr(total, q)
    percentages = times.percentages()
    for name in times.stages:
        stage = summarize(times.samples_ms[name])
        metrics[f"stage_ms.{name}"] = stage.median
        metrics[f"stage_pct.{name}"] = percentages[name]
        for key in STAGE_STATS:
            metrics[f"stage_ms.{name}.{key}"] = getattr(stage, key)
    return metrics
