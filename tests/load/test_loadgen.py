"""The LoadGen adapter with real LoadGen runs on synthetic work: its detail log read back,
the bounds and their verdict, failed requests kept out of percentiles, the per-request
CSV that recomputes the figures, the closed loop, and the streaming figures."""

import csv
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from avbench.load.loadgen import LoadGenSettings, read_detail, run_test
from avbench.load.loadgen_scenario import client_pool
from avbench.load.records import write_requests_csv
from avbench.load.scenarios import closed_loop
from avbench.load.streaming import stream_metrics
from avbench.load.verdict import early_stopping_met, loadgen_figures, verdict
from avbench.metrics.perf import RequestRecord, load_metrics, rank_percentiles


def sleeping_work(seconds: float, fail_every: int = 0,
                  first_s: float | None = None) -> Callable[..., RequestRecord]:
    """Work that takes ``seconds`` (index-dependent when a list), gives its first audio
    after ``first_s`` (default: halfway) and 1 s of audio."""
    calls = []

    def serve(index: int, on_first_audio: Callable[[], None]) -> RequestRecord:
        calls.append(index)
        record = RequestRecord(0.0, chars=10 + index, sent_s=time.perf_counter())
        if fail_every and len(calls) % fail_every == 0:
            record.ok, record.error = False, "HTTP 500: boom"
        else:
            first = seconds / 2 if first_s is None else first_s
            time.sleep(first)
            record.first_audio_s = time.perf_counter()
            record.ttfa_ms = (record.first_audio_s - record.sent_s) * 1000
            on_first_audio()
            time.sleep(seconds - first)
            record.audio_s = 1.0
        record.end_s = time.perf_counter()
        record.latency_ms = (record.end_s - record.sent_s) * 1000
        return record

    return serve


def test_single_stream_reads_loadgens_detail_log(tmp_path: Path) -> None:
    settings = LoadGenSettings("single_stream", duration_s=0.3, max_queries=50, min_queries=12,
                               streaming=True)
    result = run_test(sleeping_work(0.02), 4, settings, tmp_path)
    detail = read_detail(tmp_path / "mlperf_log_detail.txt")
    assert detail["result_validity"] in ("VALID", "INVALID") and detail == result.detail
    assert result.scenario == "SingleStream"
    m, source = loadgen_figures(result)
    n = len(result.records)
    assert source == "loadgen" and n >= 12 and m["success_rate"] == 1.0
    assert m["latency_ms.p50"] == detail["result_50.00_percentile_latency_ns"] / 1e6 >= 20.0
    assert 10.0 <= m["ttfa_ms.p50"] < m["latency_ms.p50"]
    assert "latency_ms.p90" in m and ("latency_ms.p99" in m) == (n >= 100)
    assert m["rps"] == pytest.approx(detail["result_qps_with_loadgen_overhead"])
    assert m["asps"] == pytest.approx(m["rps"])  # every request made 1 s of audio


def test_early_stopping_estimates_are_metrics(tmp_path: Path) -> None:
    settings = LoadGenSettings("single_stream", duration_s=0.2, max_queries=120,
                               min_queries=110)
    result = run_test(sleeping_work(0.002), 4, settings, tmp_path)
    m, _ = loadgen_figures(result)
    assert result.detail["early_stopping_met"] is True
    assert m["latency_ms.p90_early_stopping"] == result.detail[
        "early_stopping_latency_ss"] / 1e6 >= m["latency_ms.p50"]
    assert "latency_ms.p99_early_stopping" not in m  # LoadGen needs 662 queries for it
    assert "latency_ms.p99" in m  # 110 >= 100


def test_failed_queries_are_counted_and_kept_out_of_percentiles(tmp_path: Path) -> None:
    settings = LoadGenSettings("single_stream", duration_s=0.2, max_queries=24,
                               min_queries=24, streaming=True)
    result = run_test(sleeping_work(0.03, fail_every=2), 3, settings, tmp_path)
    m, source = loadgen_figures(result)
    judged = verdict(result)
    assert source == "records" and m["success_rate"] == pytest.approx(0.5)
    assert judged.errors == 12 and judged.requests == 24 and judged.result == "INVALID"
    assert "12 of 24 requests failed" in judged.reasons
    # LoadGen's latencies count the instant failures; ours only the 30 ms successes
    assert result.detail["result_min_latency_ns"] / 1e6 < 10.0
    assert 30.0 <= m["latency_ms.p50"] <= m["latency_ms.p90"]
    assert m["rps"] < result.detail["result_qps_with_loadgen_overhead"]


def test_server_without_streaming_fails_its_latency_bound(tmp_path: Path) -> None:
    tight = LoadGenSettings("server", duration_s=0.5, max_queries=30, min_queries=8,
                            target_qps=40.0, latency_bound_ms=1.0, workers=2)
    judged = verdict(run_test(sleeping_work(0.02), 4, tight, tmp_path))
    assert judged.loadgen_result == "INVALID" and judged.conditions[
        "performance_constraints"] is False
    assert judged.latency_bound_met is False and judged.bound_failed == "latency"
    assert judged.reasons[0].startswith("latency bound:")


def test_server_with_streaming_holds_the_whole_latency_to_its_bound(tmp_path: Path) -> None:
    """Streaming puts LoadGen in token mode, whose own constraint is the first token's:
    the whole request's latency (20 ms) over its bound (10 ms) is still INVALID."""
    settings = LoadGenSettings("server", duration_s=0.5, max_queries=60, min_queries=50,
                               target_qps=60.0, streaming=True, latency_bound_ms=10.0,
                               ttfa_bound_ms=1000.0, workers=4)
    result = run_test(sleeping_work(0.02, first_s=0.001), 4, settings, tmp_path)
    judged = verdict(result)
    assert result.detail["result_perf_constraints_met"] is True  # LoadGen: TTFT held
    assert judged.ttfa_bound_met is True and judged.latency_bound_met is False
    assert judged.bound_failed == "latency" and judged.result == "INVALID"
    assert judged.reasons[0].startswith("latency bound:")


def test_server_with_streaming_fails_its_ttfa_bound(tmp_path: Path) -> None:
    settings = LoadGenSettings("server", duration_s=0.5, max_queries=60, min_queries=50,
                               target_qps=60.0, streaming=True, latency_bound_ms=5000.0,
                               ttfa_bound_ms=1.0, workers=4)
    judged = verdict(run_test(sleeping_work(0.02, first_s=0.01), 4, settings, tmp_path))
    assert judged.latency_bound_met is True and judged.ttfa_bound_met is False
    assert judged.bound_failed == "ttfa" and judged.reasons[0].startswith("TTFA bound:")


def test_early_stopping_rule_matches_loadgens_minimums() -> None:
    """LoadGen needs 44 queries with none over for p90 (h_min, 0.9^44 < 0.01 <= 0.9^43)."""
    assert not early_stopping_met(0, 43, 0.9) and early_stopping_met(0, 44, 0.9)
    assert early_stopping_met(5, 150, 0.9) and not early_stopping_met(10, 60, 0.9)
    assert not early_stopping_met(5, 5, 0.9)


def test_the_server_client_pool_covers_the_offered_rate() -> None:
    assert client_pool(5.0, 30.0, 1) == 150
    assert client_pool(0.01, 30.0, 4) == 4
    assert client_pool(100.0, 30.0, 1) == 512


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_the_request_csv_recomputes_loadgens_figures(tmp_path: Path) -> None:
    """Latencies 10..40 ms by sample: a wrong rank would be 10 ms off."""
    settings = LoadGenSettings("single_stream", duration_s=0.2, max_queries=40,
                               min_queries=40, streaming=True)
    slept = {}

    def work(index: int, on_first_audio: Callable[[], None]) -> RequestRecord:
        slept[index] = 0.01 * (index + 1)
        record = RequestRecord(0.0, chars=10 + index, sent_s=time.perf_counter())
        time.sleep(0.005)
        record.first_audio_s = time.perf_counter()
        on_first_audio()
        time.sleep(slept[index] - 0.005)
        record.end_s, record.audio_s = time.perf_counter(), 1.0
        return record

    result = run_test(work, 4, settings, tmp_path)
    m, _ = loadgen_figures(result)
    table = rows(write_requests_csv(tmp_path / "requests.csv", result.records))
    assert len(table) == len(result.records) == 40
    ok = [r for r in table if r["ok"] == "1"]
    latency = rank_percentiles("latency_ms", [float(r["latency_ms"]) for r in ok])
    ttfa = rank_percentiles("ttfa_ms", [float(r["ttfa_ms"]) for r in ok])
    for key in ("latency_ms.p50", "latency_ms.p90", "ttfa_ms.p50", "ttfa_ms.p90"):
        assert (latency | ttfa)[key] == pytest.approx(m[key], abs=3.0), key
    wall = max(float(r["end_ms"]) for r in table) / 1000.0
    assert len(ok) / wall == pytest.approx(m["rps"], rel=0.1)
    assert sum(int(r["chars"]) for r in ok) / wall == pytest.approx(m["cps"], rel=0.1)


def test_the_request_csv_recomputes_the_closed_loop_exactly(tmp_path: Path) -> None:
    records, wall_s = closed_loop(sleeping_work(0.004, fail_every=5), n_samples=3,
                                  concurrency=2, requests=30)
    m = load_metrics(records, wall_s)
    table = rows(write_requests_csv(tmp_path / "requests.csv", records))
    ok = [r for r in table if r["ok"] == "1"]
    assert len(table) == 30 and len(ok) == 24
    recomputed = rank_percentiles("latency_ms", [float(r["latency_ms"]) for r in ok])
    for key, value in recomputed.items():
        assert value == pytest.approx(m[key], abs=1e-3)
    wall = (max(float(r["end_ms"]) for r in table)
            - min(float(r["scheduled_ms"]) for r in table)) / 1000.0
    assert wall == pytest.approx(wall_s, abs=1e-5)
    assert len(ok) / wall == pytest.approx(m["rps"], rel=1e-4)
    assert sum(int(r["chars"]) for r in ok) / wall == pytest.approx(m["cps"], rel=1e-4)
    assert {r["error"] for r in table if r["ok"] == "0"} == {"HTTP 500: boom"}


def test_closed_loop_sends_every_request_once() -> None:
    seen: list[int] = []
    work = sleeping_work(0.005)

    def counted(index: int, on_first_audio: Callable[[], None]) -> RequestRecord:
        seen.append(index)
        return work(index, on_first_audio)

    records, wall_s = closed_loop(counted, n_samples=3, concurrency=4, requests=10)
    assert len(records) == 10 and sorted(seen) == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert wall_s >= 0.005 and all(r.scheduled_s == r.sent_s for r in records)


def test_stream_metrics_hand_computed() -> None:
    # 0.5 s chunks; latencies 100, 300, 600 (late), 200 ms; processing 100 ms each.
    m = stream_metrics([100.0, 300.0, 600.0, 200.0], 0.5, [100.0] * 4)
    assert m["stream.deadline_miss_pct"] == pytest.approx(25.0)
    assert m["rtf"] == pytest.approx(0.2)
    assert m["stream.chunk_ms.p50"] == pytest.approx(250.0)
    assert m["stream.added_latency_ms.p50"] == pytest.approx(750.0)
    # jitter: |300-100|, |600-300|, |200-600| = 200, 300, 400
    assert m["stream.jitter_ms.p50"] == pytest.approx(300.0)
    assert m["stream.jitter_ms.p99"] == pytest.approx(398.0)
