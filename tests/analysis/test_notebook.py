"""notebooks/sweep_analysis.ipynb runs top to bottom on the tiny sweep (its kernel in a
project's notebooks/ folder, finding the project's store as from a checkout), and on a sweep
whose cells all failed (as task=report does); tests/sweeps/test_resume.py runs it on a
resumed sweep."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.analysis.tiny_sweep import TinySweep
from tests.conftest import REPO


def execute_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str | None,
                     sweep: str | None, cwd: Path | None = None) -> tuple[list, str]:
    """Run the notebook with its kernel in ``cwd`` (default ``tmp_path``); its outputs and
    the text it printed. ``uri`` None: no store named, the notebook finds one."""
    import nbclient
    import nbformat

    # The kernel inherits the environment: the notebook's first cell reads these.
    if uri is None:
        monkeypatch.delenv("AVBENCH_ANALYSIS_URI", raising=False)
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    else:
        monkeypatch.setenv("AVBENCH_ANALYSIS_URI", uri)
    if sweep is None:
        monkeypatch.delenv("AVBENCH_ANALYSIS_SWEEP", raising=False)
    else:
        monkeypatch.setenv("AVBENCH_ANALYSIS_SWEEP", sweep)
    monkeypatch.setenv("AVBENCH_ANALYSIS_OUT", str(tmp_path / "plots"))
    notebook = nbformat.read(REPO / "notebooks" / "sweep_analysis.ipynb", as_version=4)
    # "python3" resolves to the interpreter running the tests (jupyter_client swaps in
    # sys.executable), so the kernel sees this venv's avbench without a kernelspec install.
    client = nbclient.NotebookClient(notebook, kernel_name="python3", timeout=300,
                                     resources={"metadata": {"path": str(cwd or tmp_path)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"the notebook failed: {str(error).splitlines()[-1]}")
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    return outputs, text


def test_notebook_executes(tiny_sweep: TinySweep, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    """As `jupyter nbconvert --execute notebooks/...` from a checkout: the kernel starts in
    notebooks/, no store is named, and the notebook reads the project's mlflow.db."""
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "pyproject.toml").touch()
    (project / "mlflow.db").symlink_to(tiny_sweep.uri.removeprefix("sqlite:///"))
    outputs, text = execute_notebook(tmp_path, monkeypatch, None, tiny_sweep.sweep_id,
                                     cwd=project / "notebooks")
    assert not [o for o in outputs if o.output_type == "error"]
    assert f"sweep {tiny_sweep.sweep_id}: 4 runs" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == len(list((tmp_path / "plots").glob("*.png"))) >= 2


def test_a_sweep_without_finished_cells_is_reported_not_a_key_error(
        mlflow_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both cells of a recorded sweep failed (as gpu=h100,h200 do without CUDA): the report
    says so, and the notebook runs the same way."""
    from mlflow.tracking import MlflowClient

    from avbench.analysis import report
    from tests.analysis.recorded import open_sweep, record_run

    client = MlflowClient(tracking_uri=mlflow_store)
    experiment_id, parent = open_sweep(client, "all failed")
    for job, gpu in enumerate(("h100", "h200")):
        record_run(client, experiment_id, f"gpu={gpu}", 100.0, parent=parent, validity=None,
                   choices={"gpu": gpu}, timings=False, status="FAILED", job=job,
                   tags={"error": f"gpu={gpu} needs a CUDA GPU; use gpu=cpu"})
    client.set_terminated(parent, status="FAILED")
    built = report.build_report(client, parent, tmp_path / "report")
    assert len(built.frame) == 2 and built.plots == [] and built.tables == []
    assert built.markdown.read_text().count("needs a CUDA GPU") == 4  # cells table, failures
    outputs, text = execute_notebook(tmp_path, monkeypatch, mlflow_store, parent)
    assert ": 2 runs, 0 finished" in text
    assert text.count("not finished: gpu=h") == 2 and "CUDA" in text
    assert "no finished cell in this sweep" in text
    assert not [o for o in outputs if "image/png" in o.get("data", {})]
