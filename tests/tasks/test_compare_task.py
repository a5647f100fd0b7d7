"""task=compare through the real CLI: exit codes a user's CI can gate on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avbench import journal, runner
from tests.analysis.tiny_sweep import TinySweep
from tests.conftest import run_cli
from tests.tasks.test_pipeline_task import compose_run


def compare_cli(tiny_sweep: TinySweep, tmp_path: Path, baseline: str, candidate: str):
    # The known regression is gated whatever the machine's noise did to either side
    # (stability verdicts are tested below, test_an_unstable_side_makes_the_compare_inconclusive
    # and the two tests after it).
    return run_cli("task=compare", f"baseline={baseline}", f"candidate={candidate}",
                   "task.gate_unstable=true", f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path,
                   env={"MLFLOW_TRACKING_URI": tiny_sweep.uri})


@pytest.mark.slow
def test_regression_exits_non_zero(tiny_sweep: TinySweep, tmp_path: Path) -> None:
    done = compare_cli(tiny_sweep, tmp_path, tiny_sweep.baseline_run_id,
                       tiny_sweep.candidate_run_id)
    assert done.returncode == 1, done.stdout + done.stderr
    # stderr also holds MLflow's download progress bars; avbench's own line is one.
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("avbench:")]
    assert line.startswith("avbench: error: regression: 1 of 1 cells slower than the baseline")
    assert "1 cells: 1 slower, 0 faster, 0 unchanged, 0 inconclusive" in done.stdout
    record = json.loads((tmp_path / "out" / "compare.json").read_text())
    (cell,) = record["cells"]
    assert cell["verdict"] == "slower" and cell["p_value"] < record["alpha"]
    assert cell["change_pct"] > record["threshold_pct"] and record["not_compared"] == []


def test_improvement_exits_zero(tiny_sweep: TinySweep, tmp_path: Path, asset_cache: Path,
                                monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """In process (the command line's exit codes: the regression above, and 3 below)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tiny_sweep.uri)
    result = runner.run(compose_run(tmp_path, asset_cache, "task=compare", "tracking=mlflow",
                                    f"baseline={tiny_sweep.candidate_run_id}",
                                    f"candidate={tiny_sweep.baseline_run_id}",
                                    "task.gate_unstable=true"))
    assert result.ok and journal.exit_code() == 0, result.error
    assert "1 cells: 0 slower, 1 faster, 0 unchanged, 0 inconclusive" in capsys.readouterr().out


def test_same_sweep_is_unchanged_in_process(tiny_sweep: TinySweep, tmp_path: Path,
                                            asset_cache: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tiny_sweep.uri)
    result = runner.run(compose_run(tmp_path, asset_cache, "task=compare", "tracking=mlflow",
                                   f"baseline={tiny_sweep.sweep_id}",
                                   f"candidate={tiny_sweep.sweep_id}",
                                   "task.gate_unstable=true"))
    assert result.ok and result.run_id is None, result.error
    assert result.metrics["compare.slower"] == result.metrics["compare.faster"] == 0
    assert result.metrics["compare.unchanged"] >= 2


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
    result = runner.run(compose_run(tmp_path, asset_cache, "task=compare", "tracking=mlflow",
                                   *filled))
    assert not result.ok and journal.exit_code() == 1
    assert message in result.error
    assert capsys.readouterr().err.strip() == f"avbench: error: {result.error}"


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
    result = runner.run(compose_run(tmp_path, asset_cache, "task=compare", "tracking=mlflow",
                                   f"baseline={by_precision['fp32']}",
                                   f"candidate={by_precision['bf16']}",
                                   "task.across=[precision]", "task.gate_unstable=true"))
    record = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert record["across"] == {"baseline": {"precision": ["fp32"]},
                                "candidate": {"precision": ["bf16"]}}
    (cell,) = record["cells"]
    # bf16 on this CPU may be slower or not; the exit follows the verdict either way.
    assert result.ok == (cell["verdict"] != "slower"), result.error
    assert "across precision: baseline fp32 -> candidate bf16" in capsys.readouterr().out


@pytest.fixture(scope="module")
def unstable_vs_stable_store(tmp_path_factory: pytest.TempPathFactory, mlflow_template_db: Path,
                             asset_cache: Path) -> tuple[str, str, str]:
    """Two real calibration runs of one cell, made once for the module in a store of their
    own: the baseline judged against bench.max_cv=0 (so tagged unstable: no real run has zero
    spread), the candidate against max_cv=10 (stable). (store URI, baseline, candidate)"""
    import shutil

    from tests.analysis.test_cells import calibration_run

    root = tmp_path_factory.mktemp("unstable-vs-stable")
    shutil.copy(mlflow_template_db, root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.chdir(root)
        return (uri, calibration_run(root, asset_cache, "base", "audio=1s", "bench.max_cv=0"),
                calibration_run(root, asset_cache, "cand", "audio=1s", "bench.max_cv=10"))


@pytest.fixture
def unstable_vs_stable(unstable_vs_stable_store: tuple[str, str, str],
                       monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """(baseline, candidate) of ``unstable_vs_stable_store``, whose store this test uses."""
    uri, baseline, candidate = unstable_vs_stable_store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return baseline, candidate


def compare_in_process(tmp_path: Path, asset_cache: Path, baseline: str, candidate: str,
                       *overrides: str):
    result = runner.run(compose_run(tmp_path / "compare", asset_cache, "task=compare",
                                   "tracking=mlflow", f"baseline={baseline}",
                                   f"candidate={candidate}", *overrides))
    code = journal.exit_code()
    record = json.loads((tmp_path / "compare" / "out" / "compare.json").read_text())
    return result, code, record


@pytest.mark.slow
def test_an_unstable_side_makes_the_compare_inconclusive(
        unstable_vs_stable: tuple[str, str], tmp_path: Path, asset_cache: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    baseline, candidate = unstable_vs_stable
    result, code, record = compare_in_process(tmp_path, asset_cache, baseline, candidate)
    out = capsys.readouterr().out
    assert not result.ok and code == 3, result.error
    assert result.error.startswith("inconclusive: 1 of 1 cells have an unstable side")
    assert "task.gate_unstable=true" in result.error
    (cell,) = record["cells"]
    assert cell["verdict"] == "inconclusive" and cell["measured_verdict"] in (
        "slower", "faster", "unchanged")
    assert cell["baseline_unstable"] and not cell["candidate_unstable"]
    assert cell["baseline_cv"] > 0 and cell["candidate_cv"] > 0
    # Both sides' stability and commits are shown.
    assert "UNSTABLE" in out and "baseline CV" in out and "candidate CV" in out
    assert "0 inconclusive" not in out and "1 inconclusive" in out
    assert out.count(" git ") == 2 and cell["baseline_git"] in out


@pytest.mark.slow
def test_gate_unstable_gates_on_the_measured_verdict(
        unstable_vs_stable: tuple[str, str], tmp_path: Path, asset_cache: Path) -> None:
    baseline, candidate = unstable_vs_stable
    result, code, record = compare_in_process(tmp_path, asset_cache, baseline, candidate,
                                              "task.gate_unstable=true")
    (cell,) = record["cells"]
    assert cell["verdict"] == cell["measured_verdict"] and record["gate_unstable"]
    assert result.ok == (cell["verdict"] != "slower") and code == (0 if result.ok else 1)


@pytest.mark.slow
def test_inconclusive_is_exit_code_3_on_the_command_line(
        unstable_vs_stable: tuple[str, str], tmp_path: Path) -> None:
    baseline, candidate = unstable_vs_stable  # in the store MLFLOW_TRACKING_URI names
    done = run_cli("task=compare", f"baseline={baseline}", f"candidate={candidate}",
                   f"hydra.run.dir={tmp_path / 'cli'}", cwd=tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("avbench:")]
    assert len(errors) == 1 and errors[0].startswith("avbench: error: inconclusive:")
