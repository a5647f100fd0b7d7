"""The judge phase in real runs: the verdict lands in MLflow, heads the console summary and
travels with the job's result. Whether a real run is VALID depends on the machine, so these
tests assert the reasons that do not (too few repeats), never VALID itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from avbench import runner
from tests.tasks.test_pipeline_task import compose_run


def run_in_process(tmp_path: Path, asset_cache: Path, *overrides: str):
    result = runner.run(compose_run(tmp_path, asset_cache, *overrides))
    assert result.ok, result.error
    return result


@pytest.mark.slow
def test_debug_default_is_invalid_with_the_repeats_reason(
        tmp_path: Path, asset_cache: Path, mlflow_store: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m avbench debug=default` times 2 repeats: INVALID, with no 95 % CI."""
    result = run_in_process(tmp_path, asset_cache, "debug=default", "tracking=mlflow",
                            "tracking.output_sample_s=0")
    assert result.validity == "INVALID" and result.reasons[0] == "repeats 2 < 5"
    run = MlflowClient(tracking_uri=mlflow_store).get_run(result.run_id)
    tags, metrics = run.data.tags, run.data.metrics
    assert tags["validity"] == "INVALID"
    assert tags["validity.reasons"].split("; ") == result.reasons
    assert not {"rtf.ci_low", "rtf.ci_high", "latency_ms.p90", "stage_ms.vocoder.ci_low"} & set(
        metrics)
    assert "95 % CI of rtf: 2 < 5 samples" in tags["stats.omitted"]
    assert tags["bench.loops"] == "1" and tags["bench.batched"] == "false"
    out = capsys.readouterr().out
    summary = out[out.index("avbench · svc-fast-fp32-pytorch-1s"):]
    assert summary.splitlines()[0].startswith(
        "avbench · svc-fast-fp32-pytorch-1s · INVALID: repeats 2 < 5")
    assert "no 95% CI (2 < 5 samples), 2 repeats" in summary
    assert "left out" in summary


def test_a_sub_millisecond_pipeline_is_timed_in_batches(tmp_path: Path,
                                                        asset_cache: Path) -> None:
    """Three stages of 0.01 ms: batches of calls per sample, so the clock costs little of a
    sample (no clock reason) and the per-call figures keep their digits."""
    result = run_in_process(tmp_path, asset_cache, "pipeline=calibration",
                            "pipeline.stage_ms.short=0.01", "pipeline.stage_ms.medium=0.01",
                            "pipeline.stage_ms.long=0.01", "bench.min_repeats=5",
                            "bench.min_time_s=0.2", "tracking.output_sample_s=0")
    loops = int(result.tags["bench.loops"])
    assert result.tags["bench.batched"] == "true" and loops > 1
    assert not any(r.startswith("clock") for r in result.reasons), result.reasons
    assert result.metrics["harness.timer_overhead_pct"] < 1.0
    assert 0.03 <= result.metrics["total_ms"] < 5.0  # three busy-waits of 10 us, per call
    assert result.validity in ("VALID", "INVALID")  # the rest depends on the machine


def test_the_judge_phase_tags_the_verdict_and_what_was_left_out(tmp_path: Path,
                                                                 asset_cache: Path) -> None:
    """The phase on a run's context: reasons from figures, tags and gate failures, with
    the thresholds of the run's ``validity`` node; the flags stay beside the verdict."""
    import torch

    from avbench.measure.stats import Omitted
    from avbench.phases.judge import judge
    from avbench.run_types import Measurement, RunContext
    from avbench.tracking import NullLogger

    cfg = compose_run(tmp_path, asset_cache, "validity.max_cv=0.2")
    ctx = RunContext(cfg, NullLogger(), tmp_path, "run", torch.device("cpu"), torch.float32,
                     "torch", tmp_path, tmp_path)
    ctx.metrics |= {"rtf.cv": 0.15, "harness.timer_overhead_pct": 0.01}
    ctx.tags |= {"bench.repeats": "3"}
    ctx.parity_failures = ["vocoder (rel_l2 2e-02 > 1e-02)"]
    measured = Measurement({}, omitted=[Omitted("latency_ms", ("p90",), (10,), 3)],
                           reasons=["concurrency 2: errors 1 of 16 requests"])
    verdict = judge(ctx, measured)
    assert verdict.reasons == ("repeats 3 < 5", "gate FAIL: vocoder (rel_l2 2e-02 > 1e-02)",
                               "concurrency 2: errors 1 of 16 requests")  # cv 15 % <= 20 %
    assert ctx.tags["validity"] == "INVALID"
    assert ctx.tags["validity.reasons"] == "; ".join(verdict.reasons)
    assert ctx.tags["stats.omitted"] == "p90 of latency_ms: 3 < 10 samples"
    assert ctx.tags["bench.unstable"] == "false"
