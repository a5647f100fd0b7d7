"""task=compare through the real CLI: exit codes a user's CI can gate on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avbench import journal, tasks
from tests.analysis.tiny_sweep import TinySweep
from tests.conftest import run_cli
from tests.tasks.test_pipeline_task import compose_run


def compare_cli(tiny_sweep: TinySweep, tmp_path: Path, baseline: str, candidate: str):
    return run_cli("task=compare", f"baseline={baseline}", f"candidate={candidate}",
                   f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path,
                   env={"MLFLOW_TRACKING_URI": tiny_sweep.uri})


@pytest.mark.slow
def test_regression_exits_non_zero(tiny_sweep: TinySweep, tmp_path: Path) -> None:
    done = compare_cli(tiny_sweep, tmp_path, tiny_sweep.baseline_run_id,
                       tiny_sweep.candidate_run_id)
    assert done.returncode == 1, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("avbench: error: regression: 1 of 1 cells slower than the baseline")
    assert "1 cells: 1 slower, 0 faster, 0 unchanged" in done.stdout
    record = json.loads((tmp_path / "out" / "compare.json").read_text())
    (cell,) = record["cells"]
    assert cell["verdict"] == "slower" and cell["p_value"] < record["alpha"]
    assert cell["change_pct"] > record["threshold_pct"] and record["not_compared"] == []


@pytest.mark.slow
def test_improvement_exits_zero(tiny_sweep: TinySweep, tmp_path: Path) -> None:
    done = compare_cli(tiny_sweep, tmp_path, tiny_sweep.candidate_run_id,
                       tiny_sweep.baseline_run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 cells: 0 slower, 1 faster, 0 unchanged" in done.stdout


def test_same_sweep_is_unchanged_in_process(tiny_sweep: TinySweep, tmp_path: Path,
                                            asset_cache: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tiny_sweep.uri)
    journal.JOURNAL.clear()
    result = tasks.run(compose_run(tmp_path, asset_cache, "task=compare", "tracking=mlflow",
                                   f"baseline={tiny_sweep.sweep_id}",
                                   f"candidate={tiny_sweep.sweep_id}"))
    assert result.ok and result.run_id is None, result.error
    assert result.metrics["compare.slower"] == result.metrics["compare.faster"] == 0
    assert result.metrics["compare.unchanged"] >= 2
    journal.JOURNAL.clear()


@pytest.mark.parametrize(("overrides", "message"), [
    ((), "task=compare needs baseline="),
    (("baseline=nope", "candidate=nope"), "no run 'nope'"),
    (("baseline={sweep}", "candidate={run}"), "no cell of the candidate matches"),
])
def test_user_errors_are_one_line(tiny_sweep: TinySweep, tmp_path: Path, asset_cache: Path,
                                  monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str], overrides: tuple[str, ...],
                                  message: str) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tiny_sweep.uri)
    filled = [o.format(sweep=tiny_sweep.sweep_id, run=tiny_sweep.baseline_run_id)
              for o in overrides]
    journal.JOURNAL.clear()
    result = tasks.run(compose_run(tmp_path, asset_cache, "task=compare", "tracking=mlflow",
                                   *filled))
    assert not result.ok and journal.exit_code() == 1
    assert message in result.error
    assert capsys.readouterr().err.strip() == f"avbench: error: {result.error}"
    journal.JOURNAL.clear()


def test_across_a_group_in_process(tiny_sweep: TinySweep, tmp_path: Path, asset_cache: Path,
                                   monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tiny_sweep.uri)
    client = MlflowClient(tiny_sweep.uri)
    children = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        f"tags.`mlflow.parentRunId` = '{tiny_sweep.sweep_id}' and attributes.status = 'FINISHED'")
    by_precision = {r.data.tags["choice.precision"]: r.info.run_id for r in children
                    if r.data.tags["choice.gpu"] == "cpu"}
    journal.JOURNAL.clear()
    result = tasks.run(compose_run(tmp_path, asset_cache, "task=compare", "tracking=mlflow",
                                   f"baseline={by_precision['fp32']}",
                                   f"candidate={by_precision['bf16']}",
                                   "task.across=[precision]"))
    record = json.loads((tmp_path / "out" / "compare.json").read_text())
    journal.JOURNAL.clear()
    assert record["across"] == {"baseline": {"precision": ["fp32"]},
                                "candidate": {"precision": ["bf16"]}}
    (cell,) = record["cells"]
    # bf16 on this CPU may be slower or not; the exit follows the verdict either way.
    assert result.ok == (cell["verdict"] != "slower"), result.error
    assert "across precision: baseline fp32 -> candidate bf16" in capsys.readouterr().out
