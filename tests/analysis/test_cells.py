"""Cells matched on what runs measured: real runs in a private store, compared in process."""

from __future__ import annotations

from pathlib import Path

import pytest

from avbench import journal, runner
from avbench.analysis import cells, compare, runs
from avbench.tasks.pipeline import run_name
from tests.tasks.test_pipeline_task import compose_run

STAGES = ("pipeline.stage_ms.short=1.0", "pipeline.stage_ms.medium=2.0",
          "pipeline.stage_ms.long=5.0")


def calibration_run(tmp_path: Path, asset_cache: Path, label: str, *overrides: str) -> str:
    """One real calibration run (8 repeats of ~8 ms) in the test's store; its run id."""
    result = runner.run(compose_run(tmp_path / label, asset_cache, "pipeline=calibration",
                                   "tracking=mlflow", "bench.min_repeats=8", *STAGES,
                                   "tracking.output_sample_s=0", *overrides))
    assert result.ok and result.run_id, result.error
    return result.run_id


def test_the_run_name_says_the_resolved_duration(tmp_path: Path, asset_cache: Path) -> None:
    assert run_name(compose_run(tmp_path, asset_cache, "audio=1s",
                                "audio.duration_s=4")) == "svc-fast-fp32-pytorch-4s"
    assert run_name(compose_run(tmp_path, asset_cache, "audio=1s")) == "svc-fast-fp32-pytorch-1s"
    assert run_name(compose_run(tmp_path, asset_cache, "audio=1s", "audio.duration_s=0.5",
                                "kernel=triton")).endswith("-0.5s-triton")
    from avbench.tasks import kernels

    assert kernels.run_name(compose_run(tmp_path, asset_cache, "task=kernels", "audio=1s",
                                        "audio.duration_s=4")) == "kernels-auto-fp32-4s"


def test_identity_comes_from_recorded_values() -> None:
    row = cells.identity({"audio.duration_s": "1.0", "audio.sample_rate": "22050",
                          "pipeline.name": "svc", "preset.name": "fast",
                          "precision.dtype": "float32"},
                         {"hardware.key": "box", "backend.effective": "pytorch",
                          "kernel.effective": "torch"}, {"audio_duration_s": 4.0})
    assert row["id.audio_duration_s"] == "4"  # the measured duration wins over the option
    assert row["id.precision"] == "float32" and row["id.kernel"] == "torch"
    assert cells.differences(row, row | {"id.audio_duration_s": "1"},
                             ["id.audio_duration_s", "id.preset"]) == ["audio duration_s 4 vs 1"]


@pytest.mark.slow
def test_runs_of_different_lengths_are_refused_or_compared_by_rtf(
        mlflow_store: str, tmp_path: Path, asset_cache: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    one = calibration_run(tmp_path, asset_cache, "one", "audio=1s")
    four = calibration_run(tmp_path, asset_cache, "four", "audio=1s", "audio.duration_s=4")
    store = runs.open_store(mlflow_store)
    baseline, candidate = runs.resolve_runs(store, one), runs.resolve_runs(store, four)
    assert candidate["run_name"].iloc[0].endswith("-4s")
    # Same option name (audio=1s), different audio: not the same cell, and the error says why.
    with pytest.raises(runs.AnalysisError,
                       match=r"no cell of the candidate matches .*audio duration_s 1 vs 4.*"
                             r"task.across=\[audio\]"):
        compare.detect_regressions(store, baseline, candidate)
    assert compare.unmatched(baseline, candidate) == [
        f"{baseline['run_name'].iloc[0]} (audio duration_s 1 vs 4)"]
    # Across audio lengths the same ~8 ms per call is 4x less time per audio second.
    (change,) = compare.detect_regressions(store, baseline, candidate, across=["audio"],
                                           gate_unstable=True)
    assert change.change.verdict == compare.FASTER
    assert change.candidate_rtf < change.baseline_rtf / 2  # by RTF, not milliseconds
    assert change.change.change_pct < -50
    # task=compare refuses the pair in one line and exits 2 (could not compare).
    capsys.readouterr()
    journal.JOURNAL.clear()
    result = runner.run(compose_run(tmp_path / "compare", asset_cache, "task=compare",
                                   "tracking=mlflow", f"baseline={one}", f"candidate={four}"))
    assert not result.ok and journal.exit_code() == 2
    journal.JOURNAL.clear()
    assert result.error.startswith("could not compare: ")
    assert "audio duration_s 1 vs 4" in result.error
    assert capsys.readouterr().err.strip() == f"avbench: error: {result.error}"
    assert not (tmp_path / "compare" / "out" / "compare.json").exists()
