"""task=report through the real CLI: written next to the sweep, logged to its parent run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.analysis.tiny_sweep import TinySweep
from tests.conftest import run_cli


@pytest.mark.slow
def test_report_of_the_latest_sweep(tiny_sweep: TinySweep, tmp_path: Path, store) -> None:
    done = run_cli("task=report", f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path,
                   env={"MLFLOW_TRACKING_URI": tiny_sweep.uri})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"report of {tiny_sweep.sweep_id}: 4 cells" in done.stdout
    written = tiny_sweep.sweep_dir / "report" / "report.md"
    assert written.exists() and f"sweep `{tiny_sweep.sweep_id}`" in written.read_text()
    logged = {a.path for a in store.list_artifacts(tiny_sweep.sweep_id, "report")}
    plots = {a.path for a in store.list_artifacts(tiny_sweep.sweep_id, "report/plots")}
    assert {"report/report.md", "report/hardware.json"} <= logged
    assert plots == {f"report/plots/{p.name}" for p in (written.parent / "plots").glob("*.png")}
    assert len(plots) == 4
    assert store.get_run(tiny_sweep.sweep_id).info.status in {"FINISHED", "FAILED"}


def test_report_of_a_single_run_falls_back_to_the_output_dir(
        tiny_sweep: TinySweep, tmp_path: Path, asset_cache: Path,
        monkeypatch: pytest.MonkeyPatch, store) -> None:
    from avbench import runner
    from tests.tasks.test_pipeline_task import compose_run

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tiny_sweep.uri)
    result = runner.run(compose_run(tmp_path, asset_cache, "task=report", "tracking=mlflow",
                                   f"sweep.id={tiny_sweep.baseline_run_id}"))
    assert result.ok, result.error
    assert result.metrics["report.cells"] == 1 and result.metrics["report.failed"] == 0
    assert (tmp_path / "out" / "report" / "report.md").exists()
    logged = {a.path for a in store.list_artifacts(tiny_sweep.baseline_run_id, "report")}
    assert "report/report.md" in logged
