"""MLPerf LoadGen adapter: a SUT that hands queries to worker threads, a QSL over the
run's texts, one test per call, and the summary log read back into figures.

LoadGen issues queries (SingleStream: the next when the last completes; Server:
Poisson arrivals; Offline: all at once); a worker serves each with the run's ``Work``
and reports ``FirstTokenComplete`` at its first audio (streaming) and
``QuerySamplesComplete`` at its end. Latency, TTFA and QPS are LoadGen's; the workers
only add what LoadGen does not know: audio seconds, characters, failures.
"""

from __future__ import annotations

import array
import logging
import queue
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avbench.load.work import Work
from avbench.measure.stats import DEFAULT_RULE, Omitted, SampleRule
from avbench.metrics.perf import RequestRecord, load_metrics

log = logging.getLogger(__name__)

SCENARIOS = {"single_stream": "SingleStream", "offline": "Offline", "server": "Server"}
QPS_LINES = {"SingleStream": "QPS w/ loadgen overhead", "Server": "Completed samples per second",
             "Offline": "Samples per second"}


@dataclass
class LoadGenSettings:
    scenario: str  # single_stream | offline | server
    duration_s: float
    max_queries: int
    min_queries: int
    streaming: bool = False
    target_qps: float = 1.0  # server: arrival rate; offline: expected throughput
    latency_bound_ms: float = 2000.0
    latency_percentile: float = 0.90
    ttfa_bound_ms: float = 1000.0
    workers: int = 1


@dataclass
class LoadGenResult:
    summary: dict[str, Any]  # parsed mlperf_log_summary.txt
    records: list[RequestRecord]
    log_dir: Path
    metrics: dict[str, float] = field(default_factory=dict)
    omitted: list[Omitted] = field(default_factory=list)  # percentiles too few queries support

    @property
    def valid(self) -> bool:
        return self.summary.get("result") == "VALID"

    @property
    def constraints_met(self) -> bool:
        """The latency bound held (Server), whatever the run's other conditions."""
        return self.summary.get("performance_constraints") in ("Yes", None) and bool(
            self.summary.get("qps"))


def test_settings(s: LoadGenSettings) -> Any:
    import mlperf_loadgen as lg

    settings = lg.TestSettings()
    settings.scenario = getattr(lg.TestScenario, SCENARIOS[s.scenario])
    settings.mode = lg.TestMode.PerformanceOnly
    settings.min_duration_ms = int(s.duration_s * 1000)
    settings.max_duration_ms = 0  # no time limit: max_query_count caps the run
    settings.min_query_count = s.min_queries
    settings.max_query_count = s.max_queries
    settings.server_target_qps = s.target_qps
    settings.offline_expected_qps = s.target_qps
    settings.server_target_latency_ns = int(s.latency_bound_ms * 1e6)
    settings.server_target_latency_percentile = s.latency_percentile
    # LoadGen schedules min_duration / expected latency queries and stops once both
    # minimums hold: a small expectation lets the run end on time, not on a guess.
    settings.single_stream_expected_latency_ns = 1_000_000
    if s.streaming:
        settings.use_token_latencies = True
        settings.ttft_latency = int(s.ttfa_bound_ms * 1e6)
        settings.tpot_latency = int(s.latency_bound_ms * 1e6)
    return settings


def run_test(work: Work, n_samples: int, s: LoadGenSettings, log_dir: Path,
             rule: SampleRule = DEFAULT_RULE) -> LoadGenResult:
    """One LoadGen test of ``work`` over ``n_samples`` samples; logs go to ``log_dir``; its
    percentiles are kept where the queries support them (``rule``)."""
    import mlperf_loadgen as lg

    log_dir.mkdir(parents=True, exist_ok=True)
    records: list[RequestRecord] = []
    pending: queue.Queue[Any] = queue.Queue()

    def serve_one(sample: Any) -> None:
        token = array.array("B", [0])
        address, size = token.buffer_info()

        first: list[bool] = []

        def first_audio() -> None:
            if s.streaming and not first:
                first.append(True)
                lg.FirstTokenComplete([lg.QuerySampleResponse(sample.id, address, size, 1)])

        record = work(sample.index, first_audio)
        records.append(record)
        first_audio()  # LoadGen's token mode needs a first token, even of a failed query
        chunks = max(int(record.audio_s * 10), 1)  # "tokens": tenths of a second of audio
        lg.QuerySamplesComplete([lg.QuerySampleResponse(sample.id, address, size, chunks)])

    def worker() -> None:
        while (sample := pending.get()) is not None:
            serve_one(sample)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(s.workers, 1))]
    for thread in threads:
        thread.start()
    sut = lg.ConstructSUT(lambda samples: [pending.put(q) for q in samples], lambda: None)
    qsl = lg.ConstructQSL(n_samples, n_samples, lambda _: None, lambda _: None)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(log_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    try:
        lg.StartTestWithLogSettings(sut, qsl, test_settings(s), log_settings)
    finally:
        for _ in threads:
            pending.put(None)
        for thread in threads:
            thread.join()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    summary = parse_summary((log_dir / "mlperf_log_summary.txt").read_text())
    result = LoadGenResult(summary, records, log_dir)
    result.metrics = result_metrics(summary, records, s.streaming, rule, result.omitted)
    return result


def parse_summary(text: str) -> dict[str, Any]:
    """The figures of a ``mlperf_log_summary.txt``: scenario, verdict, QPS, latency and
    first-token percentiles (ns), and the yes/no conditions."""
    def find(pattern: str) -> str | None:
        match = re.search(pattern, text, re.MULTILINE)
        return match.group(1).strip() if match else None

    scenario = find(r"^Scenario\s*:\s*(\w+)") or ""
    qps = find(rf"^{re.escape(QPS_LINES.get(scenario, 'Samples per second'))}\s*:\s*([\d.]+)")
    summary: dict[str, Any] = {
        "scenario": scenario, "result": find(r"^Result is\s*:\s*(\w+)"),
        "qps": float(qps) if qps else None,
        "performance_constraints": find(r"Performance constraints satisfied\s*:\s*(\w+)"),
        "min_duration": find(r"Min duration satisfied\s*:\s*(\w+)"),
        "min_queries": find(r"Min queries satisfied\s*:\s*(\w+)"),
        "early_stopping": find(r"Early stopping satisfied\s*:\s*(\w+)"),
        "latency_ns": {}, "first_token_ns": {},
    }
    for q, value in re.findall(r"^(\d+\.\d+) percentile latency \(ns\)\s*:\s*(\d+)", text,
                               re.MULTILINE):
        summary["latency_ns"][float(q)] = int(value)
    for q, value in re.findall(r"^(\d+\.\d+) percentile first token latency \(ns\)\s*:\s*(\d+)",
                               text, re.MULTILINE):
        summary["first_token_ns"][float(q)] = int(value)
    return summary


def result_metrics(summary: dict[str, Any], records: list[RequestRecord], streaming: bool,
                   rule: SampleRule = DEFAULT_RULE,
                   omitted: list[Omitted] | None = None) -> dict[str, float]:
    """LoadGen's QPS and percentiles; rps, asps and cps over the wall time LoadGen's QPS
    implies (queries / QPS), successful requests only; success rate and inputs from the
    workers' records. LoadGen's latencies count every query, failed ones included; a
    percentile is kept only where the queries support it (``rule``; the others go to
    ``omitted``)."""
    done = [r for r in records if r.ok]
    qps = summary.get("qps")
    if not records or not qps:
        return {"success_rate": len(done) / len(records) if records else 0.0}
    metrics = load_metrics(records, wall_s=len(records) / qps)
    metrics = {k: v for k, v in metrics.items() if not k.startswith(("latency_ms.", "ttfa_ms."))}
    if summary["scenario"] != "Offline":  # Offline latencies count from the one big query
        metrics |= _supported("latency_ms", summary["latency_ns"], len(records), rule, omitted)
    if streaming and done:
        metrics |= _supported("ttfa_ms", summary["first_token_ns"], len(records), rule, omitted)
    return metrics


def _supported(name: str, by_percentile_ns: dict[float, int], n: int, rule: SampleRule,
               omitted: list[Omitted] | None) -> dict[str, float]:
    """``<name>.p50/p90/p95/p99`` in ms from LoadGen's figures, those ``n`` queries support."""
    wanted = [q for q in (50.0, 90.0, 95.0, 99.0) if q in by_percentile_ns]
    kept = [q for q in wanted if rule.supports_percentile(q, n)]
    left = [q for q in wanted if q not in kept]
    if left and omitted is not None:
        omitted.append(Omitted(name, tuple(f"p{int(q)}" for q in left),
                               tuple(rule.needed(q) for q in left), n))
    return {f"{name}.p{int(q)}": by_percentile_ns[q] / 1e6 for q in kept}
