"""The markdown report and its plots, built from the tiny real sweep."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from avbench.analysis import bands, compare, plots, report, runs
from tests.analysis.tiny_sweep import EXPECTED_FAILED, TinySweep

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_report_of_the_sweep(store, tiny_sweep: TinySweep, tmp_path: Path) -> None:
    built = report.build_report(store, tiny_sweep.sweep_id, tmp_path / "report")
    text = built.markdown.read_text()
    for heading in ("## Environment", "## Cells", "## Stage breakdown", "## Backends",
                    "## Across hardware", "## Interpretation", "## Plots"):
        assert heading in text, heading
    assert tiny_sweep.sweep_id in text and "bench.min_repeats=5" in text
    finished = built.frame[built.frame["status"] == "FINISHED"]
    valid = runs.valid_runs(built.frame)
    if valid.empty:  # this machine's noise made every cell INVALID: no summary, said so
        assert "No VALID cell: no best cell" in text
    else:
        best = valid.loc[valid["rtf"].idxmin()]
        assert f"Best cell (VALID cells only): **{best['cell']}** (RTF {best['rtf']:.3f})" in text
    bands_table = report.interpretation(built.frame)
    for _, row in finished.iterrows():  # verdict, RTF and its CV (in %) on every cell's row
        assert (f"| {row.cell} | FINISHED | {row.run_id[:8]} | {row.validity} | {row.rtf:,.3f} | "
                f"{100 * row['rtf.cv']:.1f} |") in text
        rtf_band = bands_table[(bands_table.cell == row.cell) & (bands_table.metric == "RTF")]
        assert rtf_band["band"].tolist() == [bands.RTF.of(row.rtf)]
    for row in runs.invalid_runs(built.frame).itertuples():
        assert f"- {row.cell}: {row.validity_reasons}" in text
    if EXPECTED_FAILED:
        failures = text.split("## Failures", 1)[1].split("\n## ", 1)[0]
        assert failures.count("needs a CUDA GPU") == EXPECTED_FAILED
    summaries = {"rtf_by_preset_precision.png", "speed_vs_quality.png"} if not valid.empty else set()
    assert {p.name for p in built.plots} == {"stage_breakdown.png", "latency_cdf.png"} | summaries
    assert [t.name for t in built.tables] == (["hardware.json"] if not valid.empty else [])
    for table in built.tables:
        records = json.loads(table.read_text())
        assert [r["rtf"] for r in records] == pytest.approx(
            compare.hardware_table(built.frame)["rtf"].tolist())
    for plot in built.plots:
        assert plot.read_bytes()[:8] == PNG_MAGIC and plot.stat().st_size > 5000
        assert f"]({plot.relative_to(built.markdown.parent).as_posix()})" in text


def test_backend_table_reads_the_recorded_backend(store, tiny_sweep: TinySweep) -> None:
    frame = runs.load_runs(store, sweep=tiny_sweep.sweep_id, status="FINISHED")
    table = report.backend_table(frame)
    # The calibration pipeline has no neural component: nothing ran on a backend.
    expected = ["none" if p == "calibration" else "pytorch" for p in frame["pipeline"]]
    assert table["effective"].tolist() == expected and "pytorch" in expected
    assert table["cache"].tolist() == ["none"] * len(frame)  # eager PyTorch caches nothing
    assert table["first call s"].tolist() == frame["cold.first_call_s"].tolist()
    assert (frame["backend_requested"] == "pytorch").all()


def test_stage_table_and_memory_bands_only_on_gpus(store, tiny_sweep: TinySweep) -> None:
    frame = runs.load_runs(store, sweep=tiny_sweep.sweep_id, status="FINISHED")
    stages = report.stage_table(frame)
    assert {"vocoder ms", "vocoder %"} <= set(stages.columns)
    assert stages["vocoder ms"].tolist() == frame["stage_ms.vocoder"].tolist()
    gpu = frame.assign(device="cuda:0", memory_peak_mb=5 * 1024.0,
                       **{bands.GPU_UTIL_METRIC: 40.0})
    labelled = report.interpretation(gpu)
    assert set(labelled[labelled.metric == "GPU memory peak"]["band"]) == {"good"}
    assert set(labelled[labelled.metric == "GPU utilisation"]["band"]) == {"poor"}
    assert "GPU memory peak" not in set(report.interpretation(frame)["metric"])


def test_plots_from_synthetic_runs(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "cell": ["a", "b", "c"], "status": "FINISHED", "device": ["cpu", "cuda:0", "cuda:0"],
        "gpu_name": ["none", "L4", "L4"], "cpu_model": "EPYC", "preset": ["fast"] * 3,
        "precision": ["fp32", "fp32", "fp16"], "rtf": [2.0, 0.4, 0.3],
        "rtf.ci_low": [1.9, 0.35, 0.28], "rtf.ci_high": [2.2, 0.45, 0.33],
        "stage_ms.vocoder": [80.0, 9.0, 7.0], "stage_ms.vocoder.p90": [90.0, 10.0, 8.0],
        "stage_ms.separation": [20.0, 3.0, 2.0], "quality.vocals_si_sdr_db": [9.0, 9.5, 8.0]})
    assert plots.stage_columns(frame) == ["stage_ms.vocoder", "stage_ms.separation"]
    paths = plots.sweep_plots(frame, {"a": [1.0, 2.0, 3.0], "b": [0.5, 0.6]}, tmp_path)
    assert [p.name for p in paths] == ["stage_breakdown.png", "rtf_by_preset_precision.png",
                                       "latency_cdf.png", "speed_vs_quality.png"]
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in paths)
