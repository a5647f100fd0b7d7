"""MLPerf LoadGen adapter: a SUT that hands queries to a pool of worker threads, a QSL
over the run's texts, one test per call, and LoadGen's detail log read back.

LoadGen issues queries (SingleStream: the next when the last completes; Server: Poisson
arrivals; Offline: all at once); a worker serves each with the run's ``Work`` and reports
``FirstTokenComplete`` at its first audio (streaming) and ``QuerySamplesComplete`` at its
end. Latency, TTFA, QPS and the verdict are LoadGen's, read from the ``:::MLLOG`` JSON
lines of ``mlperf_log_detail.txt``; the workers add what LoadGen does not know (audio
seconds, characters, failures) and the per-request clock readings.

Bounds (Server): ``latency_bound_ms`` is LoadGen's target latency, so LoadGen counts the
queries over it (``result_overlatency_query_count``) in every mode. Without streaming it is
LoadGen's performance constraint. With streaming LoadGen runs in token mode, where its
constraint is the first-token latency (``ttfa_bound_ms``) and the time per output token;
avbench sets no token-time bound (a "token" is a tenth of a second of audio, which no
listener waits on) and holds the whole-request latency to its bound itself, from LoadGen's
own over-latency count (load/verdict.py).
"""

from __future__ import annotations

import array
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avbench.load.work import Work
from avbench.metrics.perf import RequestRecord

SCENARIOS = {"single_stream": "SingleStream", "offline": "Offline", "server": "Server"}
NO_BOUND_NS = 3_600 * 10**9  # the token-time bound avbench does not set: an hour
DETAIL = "mlperf_log_detail.txt"
MLLOG = ":::MLLOG "


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
    workers: int = 1  # queries served at once, at most (threads started as needed)


@dataclass
class LoadGenResult:
    detail: dict[str, Any]  # the last value of each key of LoadGen's detail log
    records: list[RequestRecord]
    log_dir: Path
    settings: LoadGenSettings
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def scenario(self) -> str:
        return str(self.detail.get("effective_scenario", SCENARIOS[self.settings.scenario]))

    @property
    def valid(self) -> bool:
        return self.detail.get("result_validity") == "VALID"


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
        settings.tpot_latency = NO_BOUND_NS
    return settings


def read_detail(path: Path) -> dict[str, Any]:
    """Key -> value of LoadGen's detail log (``:::MLLOG {json}`` lines; the last wins)."""
    detail: dict[str, Any] = {}
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(MLLOG):
            try:
                entry = json.loads(line[len(MLLOG):])
            except ValueError:
                continue
            detail[entry["key"]] = entry["value"]
    return detail


def run_test(work: Work, n_samples: int, s: LoadGenSettings, log_dir: Path) -> LoadGenResult:
    """One LoadGen test of ``work`` over ``n_samples`` samples; logs go to ``log_dir``."""
    import mlperf_loadgen as lg

    log_dir.mkdir(parents=True, exist_ok=True)
    records: list[RequestRecord] = []
    pool = ThreadPoolExecutor(max_workers=max(s.workers, 1), thread_name_prefix="loadgen")

    def serve_one(sample: Any, scheduled_s: float) -> None:
        token = array.array("B", [0])
        address, size = token.buffer_info()
        first: list[bool] = []

        def first_audio() -> None:
            if s.streaming and not first:
                first.append(True)
                lg.FirstTokenComplete([lg.QuerySampleResponse(sample.id, address, size, 1)])

        record = work(sample.index, first_audio)
        record.scheduled_s = scheduled_s
        records.append(record)
        first_audio()  # LoadGen's token mode needs a first token, even of a failed query
        chunks = max(int(record.audio_s * 10), 1)  # "tokens": tenths of a second of audio
        lg.QuerySamplesComplete([lg.QuerySampleResponse(sample.id, address, size, chunks)])

    def issue(samples: list[Any]) -> None:
        now = time.perf_counter()
        for sample in samples:
            pool.submit(serve_one, sample, now)

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(n_samples, n_samples, lambda _: None, lambda _: None)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(log_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    try:
        lg.StartTestWithLogSettings(sut, qsl, test_settings(s), log_settings)
    finally:
        pool.shutdown(wait=True)
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    return LoadGenResult(read_detail(log_dir / DETAIL), records, log_dir, s)
