"""notebooks/sweep_analysis.ipynb runs top to bottom on the tiny sweep."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.analysis.tiny_sweep import TinySweep
from tests.conftest import REPO


def test_notebook_executes(tiny_sweep: TinySweep, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    import nbclient
    import nbformat

    # The kernel inherits the environment: the notebook's first cell reads these.
    monkeypatch.setenv("AVBENCH_ANALYSIS_URI", tiny_sweep.uri)
    monkeypatch.setenv("AVBENCH_ANALYSIS_SWEEP", tiny_sweep.sweep_id)
    monkeypatch.setenv("AVBENCH_ANALYSIS_OUT", str(tmp_path / "plots"))
    notebook = nbformat.read(REPO / "notebooks" / "sweep_analysis.ipynb", as_version=4)
    # "python3" resolves to the interpreter running the tests (jupyter_client swaps in
    # sys.executable), so the kernel sees this venv's avbench without a kernelspec install.
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert f"sweep {tiny_sweep.sweep_id}: 4 runs" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == len(list((tmp_path / "plots").glob("*.png"))) == 4
