"""A LoadGen test as the run's measurement: settings from ``scenario.*``, figures and
verdict (load/verdict.py) as metrics, tags and console lines, the per-request CSV and
LoadGen's logs as artifacts, and for Server with ``find_peak`` the peak-QPS ramp.

Worker pool: in process, ``scenario.workers`` queries are served at once (a server's
instances). A load client of an HTTP server must not be what limits it: with
``open_pool`` (scenario=http, driver=server) the pool may grow, a thread per request in
flight, up to ceil(target_qps * timeout_s) (at least ``scenario.workers``, at most
``MAX_CLIENTS``): more cannot be in flight at that rate, since a request that takes longer
than timeout_s fails. Threads are started only as needed.
"""

from __future__ import annotations

import collections
import math
from typing import Any

from omegaconf import DictConfig

from avbench.load.loadgen import LoadGenResult, LoadGenSettings, run_test
from avbench.load.records import write_requests_csv
from avbench.load.verdict import Verdict, loadgen_figures, verdict, verdict_tags
from avbench.load.work import Work
from avbench.metrics.perf import RequestRecord
from avbench.run_types import Measurement, RunContext

MAX_CLIENTS = 512


def client_pool(target_qps: float, timeout_s: float, workers: int) -> int:
    """Threads an HTTP client needs so that no Server arrival waits for one."""
    return min(max(int(workers), math.ceil(target_qps * timeout_s), 1), MAX_CLIENTS)


def loadgen_settings(sc: DictConfig, scenario: str, open_pool: bool = False,
                     **overrides: Any) -> LoadGenSettings:
    values = {"scenario": scenario, "duration_s": sc.duration_s, "max_queries": sc.max_queries,
              "min_queries": sc.min_queries, "streaming": sc.streaming,
              "target_qps": sc.target_qps, "latency_bound_ms": sc.latency_bound_ms,
              "latency_percentile": sc.latency_percentile, "ttfa_bound_ms": sc.ttfa_bound_ms,
              "workers": sc.workers} | overrides
    if open_pool and scenario == "server":
        values["workers"] = client_pool(values["target_qps"], sc.timeout_s, sc.workers)
    return LoadGenSettings(**values)


def failure_tags(records: list[RequestRecord]) -> dict[str, str]:
    """The commonest reasons requests failed, e.g. ``3x timeout after 30 s``."""
    counts = collections.Counter(r.error for r in records if not r.ok)
    return {"load.failures": "; ".join(f"{n}x {reason}" for reason, n in counts.most_common(5))
            or "none"}


def loadgen_measurement(ctx: RunContext, scenario: str, work: Work, n_samples: int,
                        open_pool: bool = False) -> Measurement:
    """One LoadGen test (and, for server with find_peak, a ramp) as the run's measurement."""
    sc = ctx.cfg.scenario
    settings = loadgen_settings(sc, scenario, open_pool)
    result = run_test(work, n_samples, settings, ctx.out_dir / "loadgen")
    metrics, source = loadgen_figures(result)
    csv = write_requests_csv(ctx.out_dir / "loadgen" / "requests.csv", result.records)
    measured = Measurement(metrics, artifacts=[*sorted(result.log_dir.glob("*.txt")), csv])
    judged = verdict(result)
    failures = failure_tags(result.records)
    ctx.set_tags(verdict_tags(judged, result, source) | failures
                 | {"load.workers": settings.workers})
    measured.lines = verdict_lines(judged, result, metrics)
    if failures["load.failures"] != "none":
        measured.lines.append(("failures", failures["load.failures"]))
    if scenario == "server" and sc.find_peak:
        peak, steps = find_peak(work, n_samples, sc, ctx, open_pool)
        measured.metrics["server.peak_qps"] = peak
        bound = bounds_text(settings)
        ctx.set_tags({"server.peak_bound": bound, "server.peak_steps": steps})
        measured.lines.append(("peak QPS", f"{peak:.3f} within {bound} ({steps})"))
    return measured


def bounds_text(s: LoadGenSettings) -> str:
    text = f"p{100 * s.latency_percentile:g} latency <= {s.latency_bound_ms:g} ms"
    if s.streaming:
        text += f", p{100 * s.latency_percentile:g} TTFA <= {s.ttfa_bound_ms:g} ms"
    return text


def verdict_lines(v: Verdict, result: LoadGenResult,
                  m: dict[str, float]) -> list[tuple[str, str]]:
    judged = v.result + (f" ({'; '.join(v.reasons)}; the figures below are not a valid "
                         "LoadGen result)" if v.reasons else "")
    lines = [("LoadGen", f"{result.scenario}, {v.requests} queries: {judged}"),
             ("throughput", f"{m.get('rps', 0):.3f} req/s (median input "
                            f"{m.get('input_chars.p50', 0):.0f} chars), "
                            f"{m.get('asps', 0):.2f} audio s/s, {m.get('cps', 0):.1f} chars/s")]
    for name, label in (("latency_ms", "latency"), ("ttfa_ms", "time to first audio")):
        shown = [f"p{q} {m[f'{name}.p{q}']:,.1f} ms" for q in (50, 90, 99)
                 if f"{name}.p{q}" in m]
        if f"{name}.p90_early_stopping" in m:
            shown.append(f"p90 early-stopping estimate {m[f'{name}.p90_early_stopping']:,.1f} ms")
        if shown:
            lines.append((label, ", ".join(shown)))
    if "rtf" in m:
        lines.append(("RTF", f"{m['rtf']:.3f} median per request; success "
                             f"{100 * m['success_rate']:.1f} %"))
    return lines


def find_peak(work: Work, n_samples: int, sc: DictConfig, ctx: RunContext,
              open_pool: bool = False) -> tuple[float, str]:
    """The highest Server QPS whose run meets its bounds (latency; TTFA when streaming):
    double from target_qps while they hold (halve while they do not), then bisect twice.
    Each step is a LoadGen Server test of peak_duration_s; early stopping is not required
    of a step."""
    tried: dict[float, bool] = {}

    def meets(qps: float) -> bool:
        settings = loadgen_settings(sc, "server", open_pool, target_qps=qps,
                                    duration_s=sc.peak_duration_s,
                                    min_queries=max(4, int(qps * sc.peak_duration_s)))
        step = verdict(run_test(work, n_samples, settings,
                                ctx.out_dir / "loadgen" / f"peak_{qps:.4f}"))
        tried[qps] = step.bound_failed == "none" and not step.errors
        return tried[qps]

    qps = float(sc.target_qps)
    good, bad = (qps, None) if meets(qps) else (None, qps)
    while good is not None and bad is None and good * 2 <= sc.peak_max_qps:
        good, bad = (good * 2, None) if meets(good * 2) else (good, good * 2)
    while good is None and bad is not None and bad / 2 >= 1e-3 and len(tried) < 8:
        good, bad = (bad / 2, bad) if meets(bad / 2) else (None, bad / 2)
    for _ in range(2):
        if good is None or bad is None:
            break
        mid = (good + bad) / 2
        good, bad = (mid, bad) if meets(mid) else (good, mid)
    steps = ", ".join(f"{q:.3g}:{'ok' if ok else 'over'}" for q, ok in sorted(tried.items()))
    return good or 0.0, steps
