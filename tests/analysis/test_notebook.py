"""notebooks/sweep_analysis.ipynb runs top to bottom on the tiny sweep, and on a sweep whose
cells all failed (as task=report does)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.analysis.tiny_sweep import TinySweep
from tests.conftest import REPO, run_cli


def execute_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str,
                     sweep: str | None) -> tuple[list, str]:
    """Run the notebook; its outputs and the text it printed."""
    import nbclient
    import nbformat

    # The kernel inherits the environment: the notebook's first cell reads these.
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
                                     resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"the notebook failed: {str(error).splitlines()[-1]}")
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    return outputs, text


def test_notebook_executes(tiny_sweep: TinySweep, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    outputs, text = execute_notebook(tmp_path, monkeypatch, tiny_sweep.uri, tiny_sweep.sweep_id)
    assert not [o for o in outputs if o.output_type == "error"]
    assert f"sweep {tiny_sweep.sweep_id}: 4 runs" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == len(list((tmp_path / "plots").glob("*.png"))) == 4


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="the gpu=h100 cells only fail without CUDA")
def test_a_sweep_without_finished_cells_is_reported_not_a_key_error(
        mlflow_store: str, tmp_path: Path, asset_cache: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from avbench import runner
    from tests.tasks.test_pipeline_task import compose_run

    sweep = run_cli("-m", "gpu=h100,h200", "audio=1s", "preset=fast",
                    f"paths.cache_dir={asset_cache}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                    cwd=tmp_path, env={"MLFLOW_TRACKING_URI": mlflow_store})
    assert sweep.returncode == 1, sweep.stdout + sweep.stderr  # both cells failed
    # task=report handles this sweep (the latest): the notebook must too, the same way.
    # task=report in process (its command line is tested in tests/tasks/test_report_task.py).
    report = runner.run(compose_run(tmp_path / "report", asset_cache, "task=report",
                                    "tracking=mlflow"))
    assert report.ok, report.error
    assert "2 cells (2 failed), 0 plots" in capsys.readouterr().out
    outputs, text = execute_notebook(tmp_path, monkeypatch, mlflow_store, None)
    assert ": 2 runs, 0 finished" in text
    assert text.count("not finished: gpu=h") == 2 and "CUDA" in text
    assert "no finished cell in this sweep" in text
    assert not [o for o in outputs if "image/png" in o.get("data", {})]
