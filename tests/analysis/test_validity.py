"""Every summary is built on VALID cells only; INVALID cells stay visible with their reasons.

A recorded sweep in a real store: the two fastest cells are INVALID (one unstable, one that
failed parity), a third carries no verdict (recorded before runs were judged) but was tagged
unstable, and two are VALID.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from avbench.analysis import compare, plots, quality, report, runs
from avbench.analysis.validity import INVALID, VALID, derived, verdict
from avbench.console import print_sweep_summary
from avbench.sweeps.parent import close_parent
from avbench.sweeps.plan import Cell, SweepPlan
from avbench.sweeps.store import read_cells
from avbench.sweeps.summary import best_cell, print_best, rows, with_verdicts, write_tables
from tests.analysis.recorded import open_sweep, record_run

CELLS = [  # name, total ms, choices, validity, reasons, extra tags, metrics
    ("fast-fp32", 50.0, {"preset": "fast"}, INVALID, "cv 47.9 % > 10 %", {}, {}),
    ("fast-bf16", 40.0, {"preset": "fast", "precision": "bf16"}, INVALID,
     "parity FAIL: vocoder", {"parity.pass": "false"}, {"quality.fidelity_snr_db": 12.0}),
    ("quality-fp32", 90.0, {"preset": "quality"}, VALID, "", {"parity.pass": "true"},
     {"quality.fidelity_snr_db": 200.0, "quality.vocals_si_sdr_db": 17.126}),
    ("quality-bf16", 70.0, {"preset": "quality", "precision": "bf16"}, VALID, "",
     {"parity.pass": "true"}, {"quality.fidelity_snr_db": 35.0,
                               "quality.vocals_si_sdr_db": 17.132}),
    ("balanced-fp32", 30.0, {"preset": "balanced"}, None, "", {"bench.unstable": "true"}, {}),
]


@dataclass(frozen=True)
class Judged:
    client: MlflowClient
    parent: str
    ids: dict[str, str]
    plan: SweepPlan


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory, mlflow_template_db: Path) -> Judged:
    """Recorded once per module (the tests only read it; one closes the parent)."""
    db = tmp_path_factory.mktemp("judged") / "mlflow.db"
    shutil.copy(mlflow_template_db, db)
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment_id, parent = open_sweep(client)
    ids = {name: record_run(client, experiment_id, name, ms, parent=parent, validity=validity,
                            reasons=reasons, choices=choices, tags=tags, metrics=metrics,
                            job=job)
           for job, (name, ms, choices, validity, reasons, tags, metrics) in enumerate(CELLS)}
    plan = SweepPlan([Cell(job, (f"cell={name}",)) for job, (name, *_) in enumerate(CELLS)],
                     {"cell": [c[0] for c in CELLS]}, parallel=1, launcher="basic")
    yield Judged(client, parent, ids, plan)
    if client.get_run(parent).info.status == "RUNNING":  # closed by the best-cell test
        client.set_terminated(parent)
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert not client.search_runs(experiments, "attributes.status = 'RUNNING'")


def test_a_verdict_is_read_from_its_tags_or_derived() -> None:
    judged = verdict("FINISHED", {"validity": "INVALID",
                                  "validity.reasons": "repeats 2 < 5; cv 47.9 % > 10 %"}, {})
    assert (judged.validity, judged.reasons, judged.judged) == (
        INVALID, ("repeats 2 < 5", "cv 47.9 % > 10 %"), True)
    assert judged.noise_only and not verdict("FINISHED", {
        "validity": "INVALID", "validity.reasons": "cv 30 % > 10 %; gate FAIL: vocoder"},
        {}).noise_only
    old = derived("FINISHED", {"bench.unstable": "true", "parity.pass": "false",
                               "parity.failures": "vocoder: rel_l2 0.2 > 0.05; mixing: x"},
                  {"rtf.cv": 0.479})
    assert old.reasons == ("unstable: cv 47.9 %", "parity FAIL: vocoder, mixing")
    assert not old.judged and old.validity == INVALID
    assert derived("FINISHED", {"bench.unstable": "false", "parity.pass": "true"}, {}).valid
    assert verdict("FAILED", {"validity": "VALID"}, {}).reasons == ("run FAILED",)


def test_the_best_cell_and_the_sweep_table_use_valid_cells_only(
        judged: Judged, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results, _ = read_cells(judged.client, judged.parent, judged.plan)
    with_verdicts(results)
    assert best_cell(results).run_id == judged.ids["quality-bf16"]
    print_sweep_summary(results, 1.0, judged.parent)
    print_best(results)
    out = capsys.readouterr().out
    assert "validity" in out and out.count("INVALID") >= 3 and "cv 47.9 % > 10 %" in out
    assert "parity FAIL: vocoder" in out
    assert "best cell (VALID cells only): quality-bf16  RTF 0.070" in out
    table = {row["name"]: row for row in rows(results)}
    assert table["fast-fp32"]["validity"] == INVALID
    assert table["fast-fp32"]["reasons"] == "cv 47.9 % > 10 %"
    assert table["fast-bf16"]["parity"] == "false"
    assert table["balanced-fp32"]["reasons"].startswith("unstable: cv ")
    assert table["quality-bf16"]["rtf"] == round(table["quality-bf16"]["rtf"], 3)
    assert table["quality-bf16"]["cv_pct"] == round(table["quality-bf16"]["cv_pct"], 1)
    csv_path, json_path, md_path = write_tables(results, tmp_path)
    assert "validity,rtf,cv_pct" in csv_path.read_text().splitlines()[0]
    assert [r["validity"] for r in json.loads(json_path.read_text())] == [
        INVALID, INVALID, VALID, VALID, INVALID]
    assert md_path.read_text().strip().endswith(
        "Best cell (VALID cells only): quality-bf16 (RTF 0.070)")
    close_parent(judged.client, judged.parent, results, 1.0)  # ends it
    parent = judged.client.get_run(judged.parent).data
    assert parent.tags["sweep.best_cell"] == "quality-bf16"
    assert parent.metrics["sweep.best_rtf"] == pytest.approx(0.070, rel=0.02)
    assert parent.metrics["sweep.invalid"] == 3
    assert "fast-bf16 (parity FAIL: vocoder)" in parent.tags["sweep.invalid_cells"]


def test_report_marks_invalid_cells_and_summarises_valid_ones(judged: Judged,
                                                              tmp_path: Path) -> None:
    frame = report.sweep_frame(judged.client, judged.parent)
    assert set(runs.valid_runs(frame)["run_name"]) == {"quality-fp32", "quality-bf16"}
    assert not frame.set_index("run_name").loc["balanced-fp32", "validity_judged"]
    built = report.build_report(judged.client, judged.parent, tmp_path)
    text = built.markdown.read_text()
    cells = report.cell_table(frame).set_index("cell")
    assert {"validity", "CV %", "parity", "reasons"} <= set(cells.columns)
    assert cells.loc["preset=fast precision=bf16", "parity"] == "FAIL"
    assert "Best cell (VALID cells only): **preset=quality precision=bf16**" in text
    assert "## INVALID cells (left out of every summary)" in text
    assert "- preset=fast precision=bf16: parity FAIL: vocoder" in text
    assert "- preset=balanced precision=fp32: unstable: cv " in text
    # The hardware table: VALID cells only, one row per precision (never averaged together).
    hardware = compare.hardware_table(frame)
    assert sorted(hardware["precision"]) == ["bf16", "fp32"] and set(hardware["runs"]) == {1}
    assert sorted(hardware["rtf"]) == pytest.approx([0.070, 0.090], rel=0.02)
    assert "speed_vs_quality.png" in {p.name for p in built.plots}
    assert ("fidelity to the fp32 eager reference (output SNR): 35.0–200.0 dB over 2 VALID "
            "cell(s), spread 165.0 dB vs noise 0.1 dB: a trade-off") in text
    assert ("vocals SI-SDR: 17.126–17.132 dB over 2 VALID cell(s), spread 0.006 dB vs noise "
            "0.100 dB: below its noise: not a trade-off") in text


def test_an_axis_below_its_noise_is_no_trade_off(judged: Judged) -> None:
    valid = runs.valid_runs(report.sweep_frame(judged.client, judged.parent))
    found = {s.axis.metric: s for s in quality.spreads(valid)}
    assert found[quality.FIDELITY].trade_off and found[quality.FIDELITY].spread == 165.0
    assert not found["quality.vocals_si_sdr_db"].trade_off
    # Replicas of one cell that differ by more than the floor raise the noise itself.
    noisy = valid.assign(cell="one cell")
    assert quality.spread(noisy, quality.AXES[0]).noise == 165.0


def test_the_pareto_front_never_holds_an_invalid_cell(judged: Judged, tmp_path: Path) -> None:
    frame = report.sweep_frame(judged.client, judged.parent)
    valid = runs.valid_runs(frame)
    front = compare.pareto_front(valid, "rtf", quality.FIDELITY, higher_is_better=True)
    assert set(valid[front]["run_name"]) == {"quality-fp32", "quality-bf16"}
    path = plots.speed_quality(frame, tmp_path / "front.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
