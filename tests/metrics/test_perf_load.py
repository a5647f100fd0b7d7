"""Load metrics against hand-computed values on synthetic timings."""

import pytest

from avbench.metrics.perf import (
    RequestRecord,
    load_metrics,
    min_samples,
    percentile_metrics,
    rank_percentiles,
)


def test_concurrency_one_asps_is_total_audio_over_total_latency() -> None:
    # Back to back: 1 s for 2 s of audio, then 3 s for 2 s of audio; wall 4 s.
    requests = [RequestRecord(1000.0, audio_s=2.0, chars=20, ttfa_ms=100.0),
                RequestRecord(3000.0, audio_s=2.0, chars=40, ttfa_ms=300.0)]
    m = load_metrics(requests, wall_s=4.0)
    assert m["asps"] == pytest.approx(1.0)  # 4 s of audio / 4 s
    assert m["rtf"] == pytest.approx(1.0)  # median of 0.5 and 1.5
    assert m["rps"] == pytest.approx(0.5)
    assert m["cps"] == pytest.approx(15.0)  # 60 chars / 4 s
    assert m["input_chars.p50"] == pytest.approx(30.0)
    assert m["success_rate"] == 1.0
    # LoadGen's rank: the value at floor(n q) of the sorted sample; p90 needs 10 requests
    assert m["latency_ms.p50"] == pytest.approx(3000.0)
    assert m["ttfa_ms.p50"] == pytest.approx(300.0)
    assert "ttfa_ms.p90" not in m and "latency_ms.p99" not in m


def test_asps_is_not_one_over_rtf_under_concurrency() -> None:
    # Four requests two at a time, each 2 s for 1 s of audio (rtf 2): wall 4 s.
    requests = [RequestRecord(2000.0, audio_s=1.0, chars=10) for _ in range(4)]
    m = load_metrics(requests, wall_s=4.0)
    assert m["rtf"] == pytest.approx(2.0)
    assert m["asps"] == pytest.approx(1.0)  # 4 s of audio / 4 s, twice 1 / rtf
    assert m["asps"] != pytest.approx(1.0 / m["rtf"])
    assert m["rps"] == pytest.approx(1.0)


def test_failures_lower_success_rate_and_are_not_counted() -> None:
    requests = [RequestRecord(1000.0, audio_s=1.0, chars=10),
                RequestRecord(50.0, ok=False, error="HTTP 500")]
    m = load_metrics(requests, wall_s=1.05)
    assert m["success_rate"] == pytest.approx(0.5)
    assert m["rps"] == pytest.approx(1 / 1.05)
    assert not any(k.startswith(("latency_ms.", "ttfa_ms.")) for k in m)  # one success: none
    m = load_metrics(requests * 50, wall_s=50.0)  # 50 successes, 50 fast failures
    assert m["latency_ms.p50"] == pytest.approx(1000.0)  # the failures' 50 ms never count
    assert "latency_ms.p99" not in m  # 50 < 100 observations


def test_percentiles_interpolate_linearly() -> None:
    m = percentile_metrics("latency_ms", [float(v) for v in range(1, 102)])  # 1..101
    assert m == {"latency_ms.p50": 51.0, "latency_ms.p90": 91.0, "latency_ms.p95": 96.0,
                 "latency_ms.p99": 100.0}
    assert percentile_metrics("x", []) == {}


def test_rank_percentiles_follow_loadgen_and_need_enough_samples() -> None:
    assert [min_samples(q) for q in (50, 90, 95, 99)] == [2, 10, 20, 100]
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert rank_percentiles("x", values) == {"x.p50": 51.0, "x.p90": 91.0, "x.p95": 96.0,
                                             "x.p99": 100.0}
    assert rank_percentiles("x", values[:99]) == {"x.p50": 50.0, "x.p90": 90.0,
                                                  "x.p95": 95.0}
    assert rank_percentiles("x", [5.0]) == {}


def test_wall_time_must_be_positive() -> None:
    with pytest.raises(ValueError, match="wall time"):
        load_metrics([], wall_s=0.0)
