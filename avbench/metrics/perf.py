"""Speed metrics of a run from its stage times."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avbench.measure.stats import DEFAULT_RULE, Omitted, SampleRule, percentiles, summarize
from avbench.measure.timer import TOTAL, StageTimes

STAGE_STATS = ("p90", "p95", "p99", "iqr", "cv", "ci_low", "ci_high")


def perf_metrics(times: StageTimes, audio_duration_s: float, rule: SampleRule = DEFAULT_RULE,
                 omitted: list[Omitted] | None = None) -> dict[str, float]:
    """RTF, ASPS, latency percentiles, spread and per-stage medians, shares and tails.

    rtf = processing time / audio duration (median total); asps = audio
    seconds processed per second (1 / rtf here, since one request runs at a time).
    rtf.cv is the coefficient of variation of the per-repeat totals and
    rtf.ci_low/high the 95% bootstrap interval of the median, in RTF units.
    Percentiles and intervals the repeats do not support (``rule``) are left out and
    appended to ``omitted``. The repeat count is not a metric: the caller tags it
    (``bench.repeats``).
    """
    left_out: list[Omitted] = [] if omitted is None else omitted
    total = summarize(times.samples_ms[TOTAL], rule)
    total_s = total.median / 1000.0
    metrics = {
        "rtf": total_s / audio_duration_s,
        "asps": audio_duration_s / total_s,
        "total_ms": total.median,
        "rtf.cv": total.cv,
        "sum_vs_total_pct": times.sum_vs_total_pct(),
    }
    if total.ci_low is not None and total.ci_high is not None:
        metrics["rtf.ci_low"] = total.ci_low / 1000.0 / audio_duration_s
        metrics["rtf.ci_high"] = total.ci_high / 1000.0 / audio_duration_s
    metrics |= {f"latency_ms.{q}": getattr(total, q) for q in ("p50", "p90", "p95", "p99")
                if getattr(total, q) is not None}
    _note(left_out, total.omission("latency_ms"), only=("p50", "p90", "p95", "p99"))
    _note(left_out, total.omission("rtf"), only=("ci",))
    percentages = times.percentages()
    for name in times.stages:
        stage = summarize(times.samples_ms[name], rule)
        metrics[f"stage_ms.{name}"] = stage.median
        metrics[f"stage_pct.{name}"] = percentages[name]
        metrics |= {f"stage_ms.{name}.{key}": float(getattr(stage, key)) for key in STAGE_STATS
                    if getattr(stage, key) is not None}
        _note(left_out, stage.omission(f"stage_ms.{name}"), only=("p90", "p95", "p99", "ci"))
    return metrics


def _note(omitted: list[Omitted], item: Omitted | None, only: tuple[str, ...]) -> None:
    """Append ``item`` restricted to the statistics ``only`` (those the caller would log)."""
    if item is None:
        return
    kept = [(s, k) for s, k in zip(item.stats, item.needed, strict=True) if s in only]
    if kept:
        omitted.append(Omitted(item.name, tuple(s for s, _ in kept),
                               tuple(k for _, k in kept), item.n))


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


def min_samples(q: float, rule: SampleRule = DEFAULT_RULE) -> int:
    """Observations a percentile needs to be reported (p50: 2, p90: 10, p95: 20, p99: 100
    with the default rule)."""
    return rule.needed(q)


def rank_percentiles(name: str, values: list[float], rule: SampleRule = DEFAULT_RULE,
                     omitted: list[Omitted] | None = None) -> dict[str, float]:
    """``<name>.p50/p90/p95/p99`` as LoadGen defines them (the value at rank floor(n q) of
    the sorted sample), each only when the sample supports it; the others are appended to
    ``omitted``."""
    kept, left = percentiles(name, values, rule, PERCENTILES, method="rank")
    if left is not None and omitted is not None:
        omitted.append(left)
    return {f"{name}.{q}": v for q, v in kept.items()}


def percentile_metrics(name: str, values_ms: list[float], rule: SampleRule = DEFAULT_RULE,
                       omitted: list[Omitted] | None = None) -> dict[str, float]:
    """``<name>.p50/p90/p95/p99`` of ``values_ms`` (linear interpolation): those the sample
    supports (``rule``); the others are appended to ``omitted``. None if empty."""
    kept, left = percentiles(name, values_ms, rule, PERCENTILES)
    if left is not None and omitted is not None:
        omitted.append(left)
    return {f"{name}.{q}": v for q, v in kept.items()}


def percentile_text(metrics: dict[str, float], name: str,
                    wanted: tuple[str, ...] = ("p50", "p90", "p99"), digits: int = 1) -> str:
    """``p50 12.3 ms, p90 45.6 ms, p99 n/a`` from the logged ``<name>.<q>`` metrics; a
    percentile the sample did not support (not logged) reads ``n/a``."""
    return ", ".join(f"{q} {metrics[f'{name}.{q}']:,.{digits}f} ms" if f"{name}.{q}" in metrics
                     else f"{q} n/a" for q in wanted)


def load_metrics(requests: list[RequestRecord], wall_s: float, rule: SampleRule = DEFAULT_RULE,
                 omitted: list[Omitted] | None = None) -> dict[str, float]:
    """Throughput and latency of requests that ran over ``wall_s`` seconds of wall time,
    each from its own definition (successful requests only, except success_rate):

    rtf           median over requests of latency / audio duration of that request
    asps          audio seconds produced / wall seconds
    rps           requests completed / wall seconds (with input_chars.p50, the median input)
    cps           input characters synthesised / wall seconds
    latency_ms.*  request latency percentiles; ttfa_ms.* time to first audio (streaming):
                  LoadGen's rank definition, each only when n supports it (min_samples)
    success_rate  successful / all requests

    Percentiles the sample does not support (``rule``) are left out, appended to ``omitted``.

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
    metrics |= rank_percentiles("latency_ms", [r.latency_ms for r in done], rule, omitted)
    metrics |= rank_percentiles("ttfa_ms", [r.ttfa_ms for r in done if r.ttfa_ms is not None],
                                rule, omitted)
    return metrics
