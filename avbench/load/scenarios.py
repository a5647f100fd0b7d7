"""The load scenarios of the measure phase: LoadGen's single_stream / offline / server
(with an optional peak-QPS ramp) and the closed-loop concurrency sweep, for text
pipelines; ``streaming`` (SVC) and ``http`` live in their own modules."""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

from omegaconf import DictConfig

from avbench.load.loadgen import LoadGenResult, LoadGenSettings, run_test
from avbench.load.work import Work, in_process
from avbench.metrics.perf import RequestRecord, load_metrics
from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput
from avbench.runtime import ConfigError


def text_work(ctx: RunContext, pipe: Pipeline, run_input: RunInput) -> Work:
    """In-process work over the run's texts, after one untimed warm-up call."""
    if run_input.texts is None:
        raise ConfigError(f"scenario={ctx.cfg.scenario.name} drives a text pipeline "
                          "(pipeline=tts); for SVC use scenario=streaming or scenario=repeats")
    streaming = bool(ctx.cfg.scenario.streaming)
    if streaming and not hasattr(pipe, "stream"):
        raise ConfigError(f"pipeline={ctx.cfg.pipeline.name} cannot stream; set "
                          "scenario.streaming=false")
    work = in_process(pipe, run_input.texts, streaming)
    warm = work(0, lambda: None)
    if not warm.ok:
        raise RuntimeError(f"the warm-up request failed: {warm.error}")
    return work


def loadgen_settings(sc: DictConfig, scenario: str, **overrides: Any) -> LoadGenSettings:
    values = {"scenario": scenario, "duration_s": sc.duration_s, "max_queries": sc.max_queries,
              "min_queries": sc.min_queries, "streaming": sc.streaming,
              "target_qps": sc.target_qps, "latency_bound_ms": sc.latency_bound_ms,
              "latency_percentile": sc.latency_percentile, "ttfa_bound_ms": sc.ttfa_bound_ms,
              "workers": sc.workers}
    return LoadGenSettings(**(values | overrides))


def loadgen_measurement(ctx: RunContext, scenario: str, work: Work, n_samples: int,
                        prefix: str = "") -> Measurement:
    """One LoadGen test (or, for server with find_peak, a ramp) as the run's measurement."""
    sc = ctx.cfg.scenario
    result = run_test(work, n_samples, loadgen_settings(sc, scenario), ctx.out_dir / "loadgen")
    measured = Measurement(dict(result.metrics), artifacts=sorted(result.log_dir.glob("*.txt")))
    failures = failure_tags(result.records)
    ctx.set_tags(verdict_tags(result, prefix) | failures)
    measured.lines = verdict_lines(result, sc)
    if failures["load.failures"] != "none":
        measured.lines.append(("failures", failures["load.failures"]))
    if scenario == "server" and sc.find_peak:
        peak, steps = find_peak(work, n_samples, sc, ctx)
        measured.metrics["server.peak_qps"] = peak
        bound = f"p{100 * sc.latency_percentile:g} latency <= {sc.latency_bound_ms:g} ms"
        ctx.set_tags({"server.peak_bound": bound, "server.peak_steps": steps})
        measured.lines.append(("peak QPS", f"{peak:.3f} within {bound} ({steps})"))
    return measured


def verdict_tags(result: LoadGenResult, prefix: str = "") -> dict[str, str]:
    s = result.summary
    return {f"{prefix}loadgen.scenario": s["scenario"],
            f"{prefix}loadgen.result": s["result"] or "none",
            **{f"{prefix}loadgen.{key}": str(s[key]) for key in
               ("performance_constraints", "min_duration", "min_queries", "early_stopping")
               if s[key] is not None},
            f"{prefix}loadgen.queries": str(len(result.records))}


def verdict_lines(result: LoadGenResult, sc: DictConfig) -> list[tuple[str, str]]:
    s, m = result.summary, result.metrics
    unmet = [key.replace("_", " ") for key in
             ("performance_constraints", "min_duration", "min_queries", "early_stopping")
             if s[key] == "NO"]
    verdict = s["result"] + (f" (not satisfied: {', '.join(unmet)}; the figures below are "
                             "not a valid LoadGen result)" if unmet else "")
    lines = [("LoadGen", f"{s['scenario']}, {len(result.records)} queries: {verdict}"),
             ("throughput", f"{m.get('rps', 0):.3f} req/s (median input "
                            f"{m.get('input_chars.p50', 0):.0f} chars), "
                            f"{m.get('asps', 0):.2f} audio s/s, {m.get('cps', 0):.1f} chars/s")]
    if "latency_ms.p50" in m:
        lines.append(("latency", f"p50 {m['latency_ms.p50']:,.1f} ms, p90 "
                                 f"{m['latency_ms.p90']:,.1f} ms, p99 {m['latency_ms.p99']:,.1f} ms"))
    if "ttfa_ms.p50" in m:
        lines.append(("time to first audio", f"p50 {m['ttfa_ms.p50']:,.1f} ms, "
                                             f"p99 {m['ttfa_ms.p99']:,.1f} ms"))
    if "rtf" in m:
        lines.append(("RTF", f"{m['rtf']:.3f} median per request; success "
                             f"{100 * m['success_rate']:.1f} %"))
    return lines


def find_peak(work: Work, n_samples: int, sc: DictConfig, ctx: RunContext) -> tuple[float, str]:
    """The highest Server QPS whose run meets the latency bound: double from target_qps
    while it holds (halve while it does not), then bisect twice. Each step is a LoadGen
    Server test of peak_duration_s; a step counts when LoadGen reports its performance
    constraints satisfied (early stopping is not required of a step)."""
    tried: dict[float, bool] = {}

    def meets(qps: float) -> bool:
        settings = loadgen_settings(sc, "server", target_qps=qps, duration_s=sc.peak_duration_s,
                                    min_queries=max(4, int(qps * sc.peak_duration_s)))
        result = run_test(work, n_samples, settings, ctx.out_dir / "loadgen" / f"peak_{qps:.4f}")
        tried[qps] = result.constraints_met
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


class LoadGenScenario:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput) -> Measurement:
        work = text_work(ctx, pipe, run_input)
        return loadgen_measurement(ctx, self.name, work, len(run_input.texts or []))


def closed_loop(work: Work, n_samples: int, concurrency: int,
                requests: int) -> tuple[list[RequestRecord], float]:
    """``concurrency`` clients, each sending its next request as soon as the last ends,
    until ``requests`` have been sent; the records (timed by the work itself, TTFA
    included) and the wall time of the whole level."""
    records: list[RequestRecord] = []
    counter = iter(range(requests))
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            records.append(work(index % n_samples, lambda: None))

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return records, time.perf_counter() - start


def failure_tags(records: list[RequestRecord]) -> dict[str, str]:
    """The commonest reasons requests failed, e.g. ``3x timeout after 30 s``."""
    counts = collections.Counter(r.error for r in records if not r.ok)
    return {"load.failures": "; ".join(f"{n}x {reason}" for reason, n in counts.most_common(5))
            or "none"}


class ConcurrencySweep:
    """Closed loop at each of scenario.levels; one child run per level. LoadGen has no
    closed-loop scenario (its SingleStream is this loop at concurrency 1), so this loop
    is ours; every figure comes from the same definitions (metrics/perf.load_metrics)."""

    name = "concurrency"

    def run(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput) -> Measurement:
        work = text_work(ctx, pipe, run_input)
        return closed_loop_levels(ctx, work, len(run_input.texts or []))


def closed_loop_levels(ctx: RunContext, work: Work, n_samples: int) -> Measurement:
    """The closed loop at every level; the run's own metrics are those of the level with
    the highest rps, each level's are in its child run and as ``level.*`` by step."""
    sc = ctx.cfg.scenario
    measured = Measurement({})
    failed: list[RequestRecord] = []
    for level in sc.levels:
        records, wall_s = closed_loop(work, n_samples, int(level), int(sc.requests_per_level))
        failed += [r for r in records if not r.ok]
        metrics = load_metrics(records, wall_s)
        child = ctx.logger.child(f"{ctx.name}-c{level}", {
            "scenario.concurrency": str(level), "avbench.task": "pipeline",
            "choice.scenario": "concurrency", "choice.pipeline": ctx.cfg.pipeline.name})
        child.log_metrics(metrics)
        child.end("FINISHED")
        ctx.logger.log_metrics({f"level.{k}": v for k, v in metrics.items()}, step=int(level))
        measured.lines.append((f"concurrency {level}", level_line(metrics)))
        if metrics.get("rps", 0) > measured.metrics.get("rps", -1):
            measured.metrics = dict(metrics)
    failures = failure_tags(failed)
    ctx.set_tags({"concurrency.levels": ",".join(str(v) for v in sc.levels)} | failures)
    if failed:
        measured.lines.append(("failures", failures["load.failures"]))
    return measured


def level_line(m: dict[str, float]) -> str:
    line = (f"{m['rps']:.3f} req/s, {m['asps']:.2f} audio s/s, "
            f"success {100 * m['success_rate']:.0f} %")
    if "latency_ms.p50" in m:
        line += f", latency p50 {m['latency_ms.p50']:,.0f} / p99 {m['latency_ms.p99']:,.0f} ms"
    if "ttfa_ms.p50" in m:
        line += f", TTFA p50 {m['ttfa_ms.p50']:,.0f} / p99 {m['ttfa_ms.p99']:,.0f} ms"
    return line
