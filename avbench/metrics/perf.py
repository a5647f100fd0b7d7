"""Speed metrics of a run from its stage times."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


PERCENTILES = (50, 90, 95, 99)


@dataclass
class RequestRecord:
    """One request of a load scenario: its latency, time to first audio (streaming only),
    the audio it produced, its input length, and whether it succeeded (and why not).

    The clock readings (``time.perf_counter()`` seconds) are what the per-request CSV
    keeps: when the load generator scheduled it (LoadGen's issue; the closed loop sends at
    once), when it was sent, when its first audio arrived, when it ended."""

    latency_ms: float
    audio_s: float = 0.0
    chars: int = 0
    ttfa_ms: float | None = None
    ok: bool = True
    error: str = ""
    scheduled_s: float | None = None
    sent_s: float | None = None
    first_audio_s: float | None = None
    end_s: float | None = None
    status: int = 0  # HTTP status (0: in process, or no answer)
    bytes: int = 0  # response body bytes (HTTP)


def min_samples(q: float) -> int:
    """Observations a percentile needs to be reported: at least one beyond it
    (p50: 2, p90: 10, p95: 20, p99: 100)."""
    return round(100.0 / (100.0 - q))


def rank_percentiles(name: str, values: list[float]) -> dict[str, float]:
    """``<name>.p50/p90/p95/p99`` as LoadGen defines them (the value at rank floor(n q) of
    the sorted sample), each only when the sample supports it (``min_samples``)."""
    ordered = sorted(values)
    return {f"{name}.p{q}": float(ordered[int(len(ordered) * (q / 100.0))])
            for q in PERCENTILES if len(ordered) >= min_samples(q)}


def percentile_metrics(name: str, values_ms: list[float]) -> dict[str, float]:
    """``<name>.p50/p90/p95/p99`` of ``values_ms`` (linear interpolation); none if empty."""
    if not values_ms:
        return {}
    points = np.percentile(np.asarray(values_ms, dtype=float), PERCENTILES)
    return {f"{name}.p{q}": float(v) for q, v in zip(PERCENTILES, points, strict=True)}


def load_metrics(requests: list[RequestRecord], wall_s: float) -> dict[str, float]:
    """Throughput and latency of requests that ran over ``wall_s`` seconds of wall time,
    each from its own definition (successful requests only, except success_rate):

    rtf           median over requests of latency / audio duration of that request
    asps          audio seconds produced / wall seconds
    rps           requests completed / wall seconds (with input_chars.p50, the median input)
    cps           input characters synthesised / wall seconds
    latency_ms.*  request latency percentiles; ttfa_ms.* time to first audio (streaming):
                  LoadGen's rank definition, each only when n supports it (min_samples)
    success_rate  successful / all requests

    With one request at a time and no idle time, wall time is the sum of latencies and
    asps = sum(audio) / sum(latency), which is 1/rtf only when every request has the same
    rtf; with N requests in flight asps rises towards N/rtf while rtf itself grows.
    """
    if wall_s <= 0:
        raise ValueError(f"wall time must be positive, got {wall_s}")
    done = [r for r in requests if r.ok]
    metrics = {"success_rate": len(done) / len(requests) if requests else 0.0,
               "rps": len(done) / wall_s,
               "asps": sum(r.audio_s for r in done) / wall_s,
               "cps": sum(r.chars for r in done) / wall_s,
               "wall_s": wall_s}
    if not done:
        return metrics
    timed = [r for r in done if r.audio_s > 0]
    if timed:
        metrics["rtf"] = float(np.median([r.latency_ms / 1000.0 / r.audio_s for r in timed]))
    metrics["input_chars.p50"] = float(np.median([r.chars for r in done]))
    metrics["audio_s.mean"] = float(np.mean([r.audio_s for r in done]))
    metrics |= rank_percentiles("latency_ms", [r.latency_ms for r in done])
    metrics |= rank_percentiles("ttfa_ms", [r.ttfa_ms for r in done if r.ttfa_ms is not None])
    return metrics
