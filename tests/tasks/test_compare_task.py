"""task=compare through the real CLI: exit codes a user's CI can gate on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avbench import journal, runner
from avbench.analysis import cells, runs
from tests.analysis.tiny_sweep import TinySweep
from tests.conftest import start_cli
from tests.tasks.test_pipeline_task import compose_run


def test_the_known_regression_exits_1_and_the_reverse_0(
        tiny_sweep: TinySweep, tmp_path: Path, asset_cache: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # The known regression is gated whatever the machine's noise did to either side (the
    # verdicts' own cases are the recorded runs below).
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tiny_sweep.uri)
    result, code, record = compare_in_process(
        tmp_path / "slower", asset_cache, tiny_sweep.baseline_run_id,
        tiny_sweep.candidate_run_id, "task.gate_unstable=true")
    assert code == 1, result.error
    assert result.error.startswith("regression: 1 of 1 cells slower than the baseline")
    # avbench's own line is one, and MLflow prints no download progress bars.
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("avbench:")]
    assert errors == [f"avbench: error: {result.error}"]
    assert "Downloading artifacts" not in err
    (cell,) = record["cells"]
    assert cell["verdict"] == "slower" and cell["p_value"] < record["alpha"]
    assert cell["change_pct"] > record["threshold_pct"] and record["not_compared"] == []
    result, code, _ = compare_in_process(
        tmp_path / "faster", asset_cache, tiny_sweep.candidate_run_id,
        tiny_sweep.baseline_run_id, "task.gate_unstable=true")
    assert code == 0 and result.ok, result.error
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
    # Every finished cell but those INVALID for more than noise (a failed gate) is compared.
    frame = runs.resolve_runs(runs.open_store(tiny_sweep.uri), tiny_sweep.sweep_id)
    usable, _ = cells.comparable(frame[frame["status"] == "FINISHED"])
    assert result.metrics["compare.unchanged"] == len(usable) >= 1


@pytest.mark.parametrize(("overrides", "message"), [
    ((), "task=compare needs baseline="),
    (("baseline=nope", "candidate=nope"), "no run 'nope'"),
    (("baseline={sweep}", "candidate={run}"), "no cell of the candidate matches"),
])
def test_could_not_compare_is_exit_2_in_one_line(
        tiny_sweep: TinySweep, tmp_path: Path, asset_cache: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        overrides: tuple[str, ...], message: str) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tiny_sweep.uri)
    filled = [o.format(sweep=tiny_sweep.sweep_id, run=tiny_sweep.baseline_run_id)
              for o in overrides]
    result = runner.run(compose_run(tmp_path, asset_cache, "task=compare", "tracking=mlflow",
                                   *filled))
    assert not result.ok and journal.exit_code() == 2
    assert result.error.startswith("could not compare: ") and message in result.error
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


# A busy machine makes a run INVALID for noise, which compare counts as unstable too.
NOISE_ALLOWED = ("validity.max_other_cpu_pct=100", "validity.max_steal_pct=100")


@pytest.fixture(scope="module")
def unstable_vs_stable_store(tmp_path_factory: pytest.TempPathFactory, mlflow_template_db: Path,
                             asset_cache: Path) -> tuple[str, str, str]:
    """Two real calibration runs of one cell, made once for the module in a store of their
    own: the baseline judged against validity.max_cv=0 (so tagged unstable: no real run has zero
    spread), the candidate against max_cv=10 and no busy-machine rule (stable, even beside
    other work). (store URI, baseline, candidate)"""
    import shutil

    from tests.analysis.test_cells import calibration_run

    root = tmp_path_factory.mktemp("unstable-vs-stable")
    shutil.copy(mlflow_template_db, root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.chdir(root)
        return (uri, calibration_run(root, asset_cache, "base", "audio=1s", "validity.max_cv=0"),
                calibration_run(root, asset_cache, "cand", "audio=1s", "validity.max_cv=10",
                                *NOISE_ALLOWED))


@pytest.fixture
def unstable_vs_stable(unstable_vs_stable_store: tuple[str, str, str],
                       monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """(baseline, candidate) of ``unstable_vs_stable_store``, whose store this test uses."""
    uri, baseline, candidate = unstable_vs_stable_store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return baseline, candidate


def compare_in_process(tmp_path: Path, asset_cache: Path, baseline: str, candidate: str,
                       *overrides: str):
    journal.JOURNAL.clear()  # the exit code is this compare's, not an earlier run's too
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


GATE_RUNS = {  # name: (total ms, validity, reasons, timings.csv logged)
    "baseline": (100.0, "VALID", "", True),
    "slower": (130.0, "VALID", "", True),
    "faster": (80.0, "VALID", "", True),
    "noisy": (130.0, "INVALID", "cv 31.0 % > 10 %", True),
    "broken": (100.0, "INVALID", "parity FAIL: vocoder", True),
    "no_timings": (100.0, "VALID", "", False),
}


@pytest.fixture(scope="module")
def gate_store(tmp_path_factory: pytest.TempPathFactory,
               mlflow_template_db: Path) -> tuple[str, dict[str, str]]:
    """One cell recorded six ways (explicit verdicts) in a store of this module's own:
    its URI and name -> run id."""
    import shutil

    from mlflow.tracking import MlflowClient

    from tests.analysis.recorded import record_run

    db = tmp_path_factory.mktemp("gate") / "mlflow.db"
    shutil.copy(mlflow_template_db, db)
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment_id = client.create_experiment("avbench")
    return f"sqlite:///{db}", {
        name: record_run(client, experiment_id, name, ms, validity=validity, reasons=reasons,
                         timings=timings)
        for name, (ms, validity, reasons, timings) in GATE_RUNS.items()}


@pytest.fixture
def gate_runs(gate_store: tuple[str, dict[str, str]],
              monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", gate_store[0])
    return gate_store[1]


@pytest.mark.parametrize(("candidate", "overrides", "code", "message"), [
    ("slower", (), 1, "regression: 1 of 1 cells slower than the baseline"),
    ("faster", (), 0, None),
    ("noisy", (), 3, "inconclusive: 1 of 1 cells have an unstable side"),
    ("noisy", ("task.gate_unstable=true",), 1, "regression: 1 of 1 cells slower"),
    ("broken", (), 2, "could not compare: no cell of the candidate matches"),
    ("no_timings", (), 2, "could not compare: run "),
])
def test_exit_codes_on_recorded_verdicts(gate_runs: dict[str, str], tmp_path: Path,
                                         asset_cache: Path, candidate: str,
                                         overrides: tuple[str, ...], code: int,
                                         message: str | None) -> None:
    result = runner.run(compose_run(tmp_path, asset_cache, "task=compare", "tracking=mlflow",
                                   f"baseline={gate_runs['baseline']}",
                                   f"candidate={gate_runs[candidate]}", *overrides))
    assert journal.exit_code() == code, result.error
    if message is None:
        assert result.ok
        return
    assert result.error.startswith(message)
    if candidate == "noisy" and code == 3:
        assert "cv 31.0 % > 10 %" in result.error and "too unstable to tell" in result.error
    if candidate == "broken":  # the INVALID run is named with its reason, never compared
        assert "left out: candidate broken INVALID: parity FAIL: vocoder" in result.error
    if candidate == "no_timings":
        assert "has no timings.csv" in result.error


@pytest.mark.slow
def test_exit_codes_3_and_2_on_the_command_line(gate_store: tuple[str, dict[str, str]],
                                               tmp_path: Path) -> None:
    uri, gate_runs = gate_store
    started = {code: (start, start_cli(
        "task=compare", f"baseline={gate_runs['baseline']}",
        f"candidate={gate_runs[candidate]}", f"hydra.run.dir={tmp_path / candidate}",
        cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri}))
        for candidate, code, start in (("noisy", 3, "inconclusive:"),
                                       ("no_timings", 2, "could not compare:"))}
    for code, (start, process) in started.items():
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == code, stdout + stderr
        errors = [line for line in stderr.splitlines() if line.startswith("avbench:")]
        assert len(errors) == 1 and errors[0].startswith(f"avbench: error: {start}")
        assert "Traceback" not in stderr
