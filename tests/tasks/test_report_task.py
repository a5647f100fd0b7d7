"""task=report: written next to the sweep, logged to its parent run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.analysis.tiny_sweep import TinySweep


def test_report_of_the_latest_sweep(tiny_sweep: TinySweep, tmp_path: Path, asset_cache: Path,
                                    monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str], store) -> None:
    """In process (the command line runs it in tests/test_help.py's examples)."""
    from avbench import runner
    from tests.tasks.test_pipeline_task import compose_run

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tiny_sweep.uri)
    result = runner.run(compose_run(tmp_path, asset_cache, "task=report", "tracking=mlflow"))
    assert result.ok, result.error
    assert f"report of {tiny_sweep.sweep_id}: 4 cells" in capsys.readouterr().out
    written = tiny_sweep.sweep_dir / "report" / "report.md"
    assert written.exists() and f"sweep `{tiny_sweep.sweep_id}`" in written.read_text()
    logged = {a.path for a in store.list_artifacts(tiny_sweep.sweep_id, "report")}
    plots = {a.path for a in store.list_artifacts(tiny_sweep.sweep_id, "report/plots")}
    assert "report/report.md" in logged
    assert plots == {f"report/plots/{p.name}" for p in (written.parent / "plots").glob("*.png")}
    assert {"report/plots/stage_breakdown.png", "report/plots/latency_cdf.png"} <= plots
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


@pytest.mark.parametrize("task", ["report", "compare"])
def test_an_empty_file_is_not_made_a_store(tmp_path: Path, asset_cache: Path, task: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from avbench import runner
    from tests.tasks.test_pipeline_task import compose_run

    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    result = runner.run(compose_run(tmp_path, asset_cache, f"task={task}",
                                    f"tracking.uri=sqlite:///{empty}", "baseline=a",
                                    "candidate=b"))
    assert not result.ok
    # compare says so as "could not compare: ..." (its exit code 2)
    assert result.error.removeprefix("could not compare: ").startswith(
        f"no MLflow store at sqlite:///{empty} (an empty file there)")
    assert capsys.readouterr().err == f"avbench: error: {result.error}\n"
    assert empty.stat().st_size == 0
