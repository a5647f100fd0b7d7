"""pipeline=custom: the example pipeline of docs/extending.md, run through the real CLI."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO, run_cli

EXAMPLE = re.compile(r"<!-- example: (?P<path>[\w/.]+) -->\n```python\n(?P<code>.*?)```", re.S)


def write_example(root: Path) -> str:
    """Write docs/extending.md's example module under ``root``; returns a PYTHONPATH."""
    match = EXAMPLE.search((REPO / "docs" / "extending.md").read_text())
    assert match, "docs/extending.md lost its example pipeline"
    path = root / match["path"]
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "__init__.py").touch()
    path.write_text(match["code"])
    return os.pathsep.join([str(root), str(REPO), os.environ.get("PYTHONPATH", "")])


@pytest.mark.slow
def test_own_pipeline_class_runs_on_a_backend(tmp_path: Path, mlflow_store: str,
                                              asset_cache: Path) -> None:
    pythonpath = write_example(tmp_path / "src")
    done = run_cli("pipeline=custom", "pipeline._target_=mypkg.denoise.Denoiser",
                   "+pipeline.hidden=32", "backend=onnxruntime", "debug=default",
                   f"paths.cache_dir={asset_cache}", f"hydra.run.dir={tmp_path / 'out'}",
                   cwd=tmp_path, env={"PYTHONPATH": pythonpath})
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(tracking_uri=mlflow_store)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FINISHED"
    for stage in ("stft", "mask", "istft"):
        assert run.data.metrics[f"stage_ms.{stage}"] > 0
    assert run.data.params["pipeline._target_"] == "mypkg.denoise.Denoiser"
    assert run.data.params["pipeline.hidden"] == "32"
    assert run.data.tags["backend.effective"] == "onnxruntime"
    assert run.data.tags["parity.pass"] == "true"
    assert "parity.istft.snr_db" in run.data.metrics  # the output is audio


@pytest.mark.slow
def test_missing_or_wrong_target_names_the_fix(tmp_path: Path, mlflow_store: str) -> None:
    done = run_cli("pipeline=custom", "debug=default", "tracking=none",
                   f"hydra.run.dir={tmp_path / 'a'}", cwd=tmp_path)
    assert done.returncode != 0
    assert "pipeline=custom needs pipeline._target_=<module>.<Class>" in done.stderr
    done = run_cli("pipeline=custom", "pipeline._target_=nowhere.Pipe", "debug=default",
                   "tracking=none", f"hydra.run.dir={tmp_path / 'b'}", cwd=tmp_path)
    assert done.returncode != 0
    assert "pipeline._target_=nowhere.Pipe cannot be imported" in done.stderr
    assert "PYTHONPATH" in done.stderr
