"""What a LoadGen test says: its figures and its verdict, from the detail log.

Figures: QPS, latency and first-audio percentiles and the early-stopping estimates are
LoadGen's, as long as every request succeeded. LoadGen times failed queries too (a refused
connection is fast), so when any failed, the percentiles come from the successful
requests' own records instead (scheduled to end, LoadGen's rank definition) and the
early-stopping estimates are dropped (tag ``load.latency_source``). A percentile is only
reported when the sample supports it (metrics/perf.py ``min_samples``: p99 needs 100).

Verdict (``Verdict``): LoadGen's own ``result_validity`` and its conditions, the number of
requests and of failed ones, and, for Server, which bound failed: ``latency`` (the whole
request at ``latency_percentile``) and/or ``ttfa`` (time to first audio, streaming).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from avbench.load.loadgen import LoadGenResult
from avbench.metrics.perf import PERCENTILES, load_metrics, min_samples, rank_percentiles

QPS_KEYS = {"SingleStream": "result_qps_with_loadgen_overhead",
            "Server": "result_completed_samples_per_sec", "Offline": "result_samples_per_second"}
CONDITIONS = {"performance_constraints": "result_perf_constraints_met",
              "min_duration": "result_min_duration_met", "min_queries": "result_min_queries_met",
              "early_stopping": "early_stopping_met"}
CONFIDENCE = 0.99  # LoadGen's early-stopping confidence


def early_stopping_met(over: int, queries: int, percentile: float) -> bool:
    """LoadGen's Server early-stopping rule (loadgen/early_stopping.cc): with ``over`` of
    ``queries`` over the bound, is the true share over it below 1 - percentile with 99 %
    confidence? P(Binomial(queries, 1 - percentile) <= over) < 1 - confidence."""
    from scipy.special import betainc

    passing = queries - over
    return passing > 0 and float(betainc(passing, over + 1, percentile)) < 1 - CONFIDENCE


@dataclass
class Verdict:
    loadgen_result: str  # LoadGen's result_validity: VALID | INVALID
    conditions: dict[str, bool]  # LoadGen's conditions that it logged
    requests: int
    errors: int
    latency_bound_met: bool | None = None  # Server only
    ttfa_bound_met: bool | None = None  # Server with streaming only
    latency_early_stopping: bool | None = None  # Server with streaming: avbench's check
    reasons: list[str] = field(default_factory=list)

    @property
    def bound_failed(self) -> str:
        failed = [name for name, met in (("latency", self.latency_bound_met),
                                         ("ttfa", self.ttfa_bound_met)) if met is False]
        return ",".join(failed) or "none"

    @property
    def result(self) -> str:
        return "INVALID" if self.reasons else "VALID"


def verdict(result: LoadGenResult) -> Verdict:
    d, s = result.detail, result.settings
    conditions = {name: bool(d[key]) for name, key in CONDITIONS.items() if key in d}
    errors = sum(not r.ok for r in result.records)
    v = Verdict(str(d.get("result_validity", "none")), conditions, len(result.records), errors)
    if result.scenario == "Server":
        queries = int(d.get("result_query_count", len(result.records)))
        over = int(d.get("result_overlatency_query_count", 0))
        allowed = queries - int(queries * s.latency_percentile) - 1
        pct = f"p{100 * s.latency_percentile:g}"
        if s.streaming:  # LoadGen's constraint is the first token's; the latency is ours
            v.ttfa_bound_met = conditions.get("performance_constraints")
            v.latency_bound_met = over <= allowed
            v.latency_early_stopping = early_stopping_met(over, queries, s.latency_percentile)
        else:
            v.latency_bound_met = conditions.get("performance_constraints")
        if v.latency_bound_met is False:
            v.reasons.append(f"latency bound: {over} of {queries} requests over "
                             f"{s.latency_bound_ms:g} ms (at most {max(allowed, 0)} may be, "
                             f"for {pct} <= {s.latency_bound_ms:g} ms)")
        if v.ttfa_bound_met is False:
            v.reasons.append(f"TTFA bound: {pct} time to first audio over "
                             f"{s.ttfa_bound_ms:g} ms")
        if v.latency_bound_met and v.latency_early_stopping is False:
            v.reasons.append(f"early stopping: too few requests for {pct} latency <= "
                             f"{s.latency_bound_ms:g} ms with 99 % confidence")
    unmet = [name.replace("_", " ") for name, met in conditions.items()
             if not met and name != "performance_constraints"]
    if unmet:
        v.reasons.append(f"LoadGen: {', '.join(unmet)} not satisfied")
    if v.loadgen_result != "VALID" and not v.reasons:
        v.reasons.append(f"LoadGen: {v.loadgen_result}")
    if errors:
        v.reasons.append(f"{errors} of {len(result.records)} requests failed")
    return v


def loadgen_figures(result: LoadGenResult) -> tuple[dict[str, float], str]:
    """The run's metrics from a LoadGen test, and where its percentiles come from."""
    d, records = result.detail, result.records
    qps = d.get(QPS_KEYS.get(result.scenario, ""))
    if not records or not qps:
        done = sum(r.ok for r in records)
        return {"success_rate": done / len(records) if records else 0.0}, "none"
    metrics = {k: v for k, v in load_metrics(records, wall_s=len(records) / qps).items()
               if not k.startswith(("latency_ms.", "ttfa_ms."))}
    if result.scenario == "Offline":  # its latencies count from the one big query
        return metrics, "none"
    if all(r.ok for r in records):
        return metrics | _loadgen_percentiles(result), "loadgen"
    done = [r for r in records if r.ok and r.scheduled_s is not None and r.end_s is not None]
    metrics |= rank_percentiles("latency_ms", [(r.end_s - r.scheduled_s) * 1000 for r in done])
    if result.settings.streaming:
        metrics |= rank_percentiles("ttfa_ms", [(r.first_audio_s - r.scheduled_s) * 1000
                                                for r in done if r.first_audio_s is not None])
    return metrics, "records"


def _loadgen_percentiles(result: LoadGenResult) -> dict[str, float]:
    d, streaming = result.detail, result.settings.streaming
    n = int(d.get("result_query_count", len(result.records)))
    out: dict[str, float] = {}
    for q in PERCENTILES:
        if n < min_samples(q):
            continue
        for name, key in (("latency_ms", f"result_{q:.2f}_percentile_latency_ns"),
                          ("ttfa_ms", f"result_first_token_{q:.2f}_percentile_latency_ns")):
            if key in d and (name == "latency_ms" or streaming):
                out[f"{name}.p{q}"] = float(d[key]) / 1e6
    if result.scenario == "SingleStream" and d.get("early_stopping_met"):
        # token mode: LoadGen's last early-stopping pass, hence its estimates, is the TTFT's
        name = "ttfa_ms" if streaming else "latency_ms"
        for key, q in (("early_stopping_latency_ss", 90), ("early_stopping_latency_ms", 99)):
            if d.get(key):
                out[f"{name}.p{q}_early_stopping"] = float(d[key]) / 1e6
    return out


def verdict_tags(v: Verdict, result: LoadGenResult, latency_source: str) -> dict[str, Any]:
    tags: dict[str, Any] = {"loadgen.scenario": result.scenario, "loadgen.result": v.loadgen_result,
                            **{f"loadgen.{k}": "Yes" if met else "NO"
                               for k, met in v.conditions.items()},
                            "load.requests": v.requests, "load.errors": v.errors,
                            "load.result": v.result, "load.latency_source": latency_source,
                            "load.invalid_reasons": "; ".join(v.reasons) or "none"}
    if result.scenario == "Server":
        tags["load.bound_failed"] = v.bound_failed
    return tags
