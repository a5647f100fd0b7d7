"""The LoadGen adapter with real LoadGen runs on synthetic work, the closed loop, and the
streaming figures against hand-computed values."""

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from avbench.load.loadgen import LoadGenSettings, parse_summary, run_test
from avbench.load.scenarios import closed_loop
from avbench.load.streaming import stream_metrics
from avbench.measure.stats import SampleRule
from avbench.metrics.perf import RequestRecord


def sleeping_work(seconds: float, fail_every: int = 0) -> Callable[..., RequestRecord]:
    """Work that takes ``seconds``, gives its first audio halfway and 1 s of audio."""
    calls = []

    def serve(index: int, on_first_audio: Callable[[], None]) -> RequestRecord:
        calls.append(index)
        start = time.perf_counter()
        if fail_every and len(calls) % fail_every == 0:
            return RequestRecord(0.1, chars=10, ok=False, error="HTTP 500: boom")
        time.sleep(seconds / 2)
        on_first_audio()
        time.sleep(seconds / 2)
        return RequestRecord((time.perf_counter() - start) * 1000, audio_s=1.0, chars=10 + index)

    return serve


def test_single_stream_reports_loadgen_figures(tmp_path: Path) -> None:
    settings = LoadGenSettings("single_stream", duration_s=0.3, max_queries=50, min_queries=5,
                               streaming=True)
    result = run_test(sleeping_work(0.02), 4, settings, tmp_path)
    assert (tmp_path / "mlperf_log_summary.txt").exists()
    assert (tmp_path / "mlperf_log_detail.txt").exists()
    assert result.summary["scenario"] == "SingleStream"
    assert result.summary["result"] in ("VALID", "INVALID")
    assert result.summary["min_queries"] == "Yes"
    m = result.metrics
    assert len(result.records) >= 5 and m["success_rate"] == 1.0
    # LoadGen timed each query at >= 20 ms and its first audio at >= 10 ms.
    assert m["latency_ms.p50"] >= 20.0
    assert 10.0 <= m["ttfa_ms.p50"] < m["latency_ms.p50"]
    # At most 50 queries: LoadGen's p99 (needs 100) is left out, and said so.
    n = len(result.records)
    assert "latency_ms.p99" not in m and "ttfa_ms.p99" not in m
    assert [(o.name, o.stats[-1], o.needed[-1], o.n) for o in result.omitted] == [
        ("latency_ms", "p99", 100, n), ("ttfa_ms", "p99", 100, n)]
    assert m["rps"] == pytest.approx(result.summary["qps"])
    assert m["asps"] == pytest.approx(m["rps"])  # every request made 1 s of audio


def test_failed_queries_are_counted_not_fatal(tmp_path: Path) -> None:
    settings = LoadGenSettings("single_stream", duration_s=0.2, max_queries=20, min_queries=6,
                               streaming=True)
    result = run_test(sleeping_work(0.01, fail_every=2), 3, settings, tmp_path)
    assert 0.0 < result.metrics["success_rate"] < 1.0
    assert result.metrics["rps"] < result.summary["qps"]
    assert any(r.error == "HTTP 500: boom" for r in result.records)


def test_server_verdict_follows_the_latency_bound(tmp_path: Path) -> None:
    tight = LoadGenSettings("server", duration_s=0.5, max_queries=30, min_queries=8,
                            target_qps=40.0, latency_bound_ms=1.0, workers=2)
    result = run_test(sleeping_work(0.02), 4, tight, tmp_path / "tight")
    assert result.summary["result"] == "INVALID"
    assert result.summary["performance_constraints"] == "NO"
    assert not result.constraints_met


def test_parse_summary_reads_verdict_and_percentiles() -> None:
    text = ("Scenario : Server\nCompleted samples per second    : 2.50\nResult is : VALID\n"
            "  Performance constraints satisfied : Yes\n  Min duration satisfied : Yes\n"
            "50.00 percentile latency (ns)   : 1500000\n"
            "99.00 percentile first token latency (ns)   : 700000\n")
    s = parse_summary(text)
    assert s["scenario"] == "Server" and s["result"] == "VALID" and s["qps"] == 2.5
    assert s["latency_ns"] == {50.0: 1500000} and s["first_token_ns"] == {99.0: 700000}
    assert s["early_stopping"] is None


def test_closed_loop_sends_every_request_once() -> None:
    seen: list[int] = []

    def work(index: int, on_first_audio: Callable[[], None]) -> RequestRecord:
        seen.append(index)
        time.sleep(0.005)
        return RequestRecord(5.0, audio_s=0.5, chars=4)

    records, wall_s = closed_loop(work, n_samples=3, concurrency=4, requests=10)
    assert len(records) == 10 and sorted(seen) == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert wall_s > 0


def test_stream_metrics_hand_computed() -> None:
    # 0.5 s chunks; latencies 100, 300, 600 (late), 200 ms; processing 100 ms each.
    omitted: list = []
    m = stream_metrics([100.0, 300.0, 600.0, 200.0], 0.5, [100.0] * 4,
                       SampleRule(min_samples=1, tail=0.01), omitted)
    assert m["stream.deadline_miss_pct"] == pytest.approx(25.0)
    assert m["rtf"] == pytest.approx(0.2)
    assert m["stream.chunk_ms.p50"] == pytest.approx(250.0)
    assert m["stream.added_latency_ms.p50"] == pytest.approx(750.0)
    # jitter: |300-100|, |600-300|, |200-600| = 200, 300, 400
    assert m["stream.jitter_ms.p50"] == pytest.approx(300.0)
    assert m["stream.jitter_ms.p99"] == pytest.approx(398.0)
    assert omitted == []
    # With the default rule, four chunks support their median only.
    m = stream_metrics([100.0, 300.0, 600.0, 200.0], 0.5, [100.0] * 4, omitted=omitted)
    assert "stream.chunk_ms.p90" not in m and m["stream.jitter_ms.p50"] == pytest.approx(300.0)
    assert [o.name for o in omitted] == ["stream.chunk_ms", "stream.added_latency_ms",
                                         "stream.jitter_ms"]
