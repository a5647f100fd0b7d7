"""Statistics on synthetic samples with known answers; matching on the real store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from avbench.analysis import compare, runs
from tests.analysis.tiny_sweep import CALIBRATION_MS, EXTRA_MS, TinySweep


def timings(seed: int, n: int = 30, median_ms: float = 100.0, sigma: float = 0.03) -> np.ndarray:
    """Right-skewed per-repeat times, like real ones."""
    return median_ms * np.random.default_rng(seed).lognormal(0.0, sigma, n)


def test_a_20_percent_slowdown_is_detected() -> None:
    baseline = timings(1)
    change = compare.classify(baseline, timings(2) * 1.2, threshold_pct=5, alpha=0.01)
    assert change.verdict == compare.SLOWER
    assert change.p_value < 1e-6
    assert change.change_pct == pytest.approx(20, abs=3)


def test_identical_distributions_are_not_flagged() -> None:
    for seed in range(5):
        change = compare.classify(timings(10 + seed), timings(20 + seed))
        assert change.verdict == compare.UNCHANGED, (seed, change)
    same = compare.classify(timings(3), timings(3))
    assert same.p_value == 1.0 and same.change_pct == 0.0


def test_speedups_need_both_significance_and_size() -> None:
    assert compare.classify(timings(4), timings(5) / 1.25).verdict == compare.FASTER
    # Significant but below the threshold: a user would not call 2 % a regression.
    steady, shifted = timings(6, sigma=0.002), timings(7, sigma=0.002) * 1.02
    tiny_shift = compare.classify(steady, shifted, threshold_pct=5)
    assert tiny_shift.p_value < 0.01 and tiny_shift.verdict == compare.UNCHANGED
    assert compare.classify(steady, shifted, threshold_pct=1).verdict == compare.SLOWER


def test_three_repeats_cannot_reach_alpha() -> None:
    change = compare.classify(timings(8, n=3), timings(9, n=3) * 1.2, alpha=0.01)
    assert change.min_p_value == pytest.approx(0.1) and change.verdict == compare.UNCHANGED


def test_speedup_bootstrap_interval() -> None:
    slower = compare.speedup(timings(11), timings(12) * 1.2)
    assert slower.ratio == pytest.approx(1 / 1.2, rel=0.03)
    assert slower.ci_low < slower.ratio < slower.ci_high < 1.0
    same = compare.speedup(timings(13), timings(14))
    assert same.ci_low < 1.0 < same.ci_high
    flat = compare.speedup(np.full(5, 10.0), np.full(5, 5.0))
    assert (flat.ratio, flat.ci_low, flat.ci_high) == (2.0, 2.0, 2.0)


def synthetic_frame() -> pd.DataFrame:
    """Two machines (a CPU and an A100), two presets, two precisions."""
    rows = []
    for device, gpu_name, key, scale in [("cpu", "none", "cpu-box", 10.0),
                                         ("cuda:0", "NVIDIA A100", "a100-box", 1.0)]:
        for preset, base in [("fast", 0.1), ("quality", 0.3)]:
            for precision, factor in [("fp32", 1.0), ("fp16", 0.6)]:
                rtf = base * scale * factor
                rows.append({"run_id": f"{key}-{preset}-{precision}", "status": "FINISHED",
                             "device": device, "gpu_name": gpu_name, "cpu_model": "EPYC",
                             "hardware_key": key, "preset": preset, "precision": precision,
                             "rtf": rtf, "memory_peak_mb": 1000 * factor + 100 * base,
                             "pitch_rmse_hz": 3.0 + factor, "cell": f"{preset} {precision}"})
    return pd.DataFrame(rows)


def test_pivot_by_preset_and_precision_per_hardware() -> None:
    frame = synthetic_frame()
    table = compare.pivot(frame, "rtf")
    assert table.loc[("NVIDIA A100", "quality"), "fp16"] == pytest.approx(0.3 * 0.6)
    assert table.loc[("CPU EPYC", "fast"), "fp32"] == pytest.approx(1.0)
    assert table.shape == (4, 2)
    markdown = compare.to_markdown(table)
    assert markdown.count("\n") == 4 + 1 and "NVIDIA A100" in markdown


def test_cross_hardware_table() -> None:
    frame = synthetic_frame()
    table = compare.hardware_table(frame).set_index(["hardware", "preset", "precision"])
    # Every axis that differs is a row key: an fp32 and an fp16 cell are never one RTF.
    assert len(table) == 8 and set(table["runs"]) == {1}
    for _, run in frame.iterrows():
        hardware = "NVIDIA A100" if run.device != "cpu" else "CPU EPYC"
        row = table.loc[(hardware, run.preset, run.precision)]
        assert row["rtf"] == pytest.approx(run.rtf)
        assert row["memory_peak_mb"] == run.memory_peak_mb
    gpu = table.loc[("NVIDIA A100", "fast", "fp16")]
    cpu = table.loc[("CPU EPYC", "fast", "fp16")]
    assert gpu["cpu_vs_gpu_speedup"] == pytest.approx(cpu["rtf"] / gpu["rtf"])
    assert np.isnan(cpu["cpu_vs_gpu_speedup"])
    records = json.loads(table.reset_index().to_json(orient="records"))
    assert len(records) == 8 and {"rtf", "pitch_rmse_hz", "cpu_vs_gpu_speedup"} <= set(records[0])


def test_the_hardware_table_leaves_invalid_runs_out() -> None:
    frame = synthetic_frame().assign(validity="VALID", validity_reasons="")
    frame.loc[0, ["validity", "validity_reasons"]] = ["INVALID", "cv 47.9 % > 10 %"]
    table = compare.hardware_table(frame)
    assert len(table) == 7 and frame.loc[0, "rtf"] not in set(table["rtf"])


def test_pareto_front() -> None:
    frame = pd.DataFrame({"rtf": [0.2, 0.4, 0.3, 0.5, np.nan],
                          "q": [9.0, 2.0, 9.5, 2.0, 1.0]})
    assert compare.pareto_front(frame, "rtf", "q").tolist() == [True, True, False, False, False]


def test_known_regression_in_real_runs(store, tiny_sweep: TinySweep) -> None:
    baseline = runs.resolve_runs(store, tiny_sweep.baseline_run_id)
    candidate = runs.resolve_runs(store, tiny_sweep.candidate_run_id)
    (change,) = compare.detect_regressions(store, baseline, candidate, 5.0, 0.01)
    expected_pct = 100 * (EXTRA_MS[1] - EXTRA_MS[0]) / sum(CALIBRATION_MS.values())
    assert change.change.verdict == compare.SLOWER and change.change.p_value < 0.01
    assert 0.5 * expected_pct < change.change.change_pct < 1.5 * expected_pct
    assert change.speedup_ci_high < 1.0
    (back,) = compare.detect_regressions(store, candidate, baseline, 5.0, 0.01)
    assert back.change.verdict == compare.FASTER


def test_a_sweep_against_itself_and_unmatched_cells(store, tiny_sweep: TinySweep) -> None:
    sweep = runs.resolve_runs(store, tiny_sweep.sweep_id)
    changes = compare.detect_regressions(store, sweep, sweep)
    assert len(changes) == (sweep["status"] == "FINISHED").sum()
    assert all(c.change.verdict == compare.UNCHANGED and c.change.p_value == 1.0
               and c.speedup == 1.0 for c in changes)
    assert compare.unmatched(sweep, sweep) == []
    finished = sweep[sweep["status"] == "FINISHED"]
    dropped = finished.iloc[:1].assign(status="FAILED")
    candidate = pd.concat([dropped, finished.iloc[1:]])
    # The dropped cell is named with how it differs from the nearest candidate run.
    assert compare.unmatched(sweep, candidate) == [
        f"{finished['run_name'].iloc[0]} (precision {finished['id.precision'].iloc[0]} vs "
        f"{finished['id.precision'].iloc[1]})"]
    with pytest.raises(runs.AnalysisError, match="no cell of the candidate"):
        compare.detect_regressions(store, sweep, runs.resolve_runs(store,
                                                                   tiny_sweep.baseline_run_id))


def test_compare_across_a_group(store, tiny_sweep: TinySweep) -> None:
    sweep = runs.resolve_runs(store, tiny_sweep.sweep_id)
    on_cpu = sweep[(sweep["status"] == "FINISHED") & (sweep["gpu"] == "cpu")]
    fp32, bf16 = (on_cpu[on_cpu["precision"] == p] for p in ("fp32", "bf16"))
    assert len(fp32) == len(bf16) == 1
    with pytest.raises(runs.AnalysisError, match="no cell of the candidate"):
        compare.detect_regressions(store, fp32, bf16)
    (change,) = compare.detect_regressions(store, fp32, bf16, across=["precision"])
    samples = runs.total_ms_samples(store, fp32["run_id"])
    assert change.baseline_ms == pytest.approx(float(np.median(*samples.values())))
    assert change.candidate_ms != change.baseline_ms
    assert compare.unmatched(fp32, bf16, ["precision"]) == []
    assert compare.across_values(bf16, ["precision"]) == {"precision": ["bf16"]}
    with pytest.raises(runs.AnalysisError, match="several precision values per cell"):
        compare.detect_regressions(store, fp32, on_cpu, across=["precision"])
    with pytest.raises(runs.AnalysisError, match="cannot compare across colour"):
        compare.detect_regressions(store, fp32, bf16, across=["colour"])
