"""pipeline=custom: the example pipeline of docs/extending.md, run through the real CLI (a
user's own module on PYTHONPATH); a missing or wrong target named with its fix."""

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
    # It describes itself: its class and its input, no preset it does not read.
    assert run.info.run_name == "Denoiser-fp32-onnxruntime-1s"
    assert "[2/5] build  Denoiser fp32 on cpu (onnxruntime)" in done.stdout
    assert "[1/5] input  synthetic song, 1 s" in done.stdout  # what stage stft reads


@pytest.mark.parametrize(("target", "words"), [
    (None, ["pipeline=custom needs pipeline._target_=<module>.<Class>"]),
    ("nowhere.Pipe", ["pipeline._target_=nowhere.Pipe cannot be imported", "PYTHONPATH"])])
def test_missing_or_wrong_target_names_the_fix(tmp_path: Path, asset_cache: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              target: str | None, words: list[str]) -> None:
    """In process: the job runner's one line (the command line prints the same)."""
    from avbench import runner
    from tests.tasks.test_pipeline_task import compose_run

    chosen = [f"pipeline._target_={target}"] if target else []
    result = runner.run(compose_run(tmp_path, asset_cache, "pipeline=custom", "debug=default",
                                    *chosen))
    assert not result.ok
    err = capsys.readouterr().err
    assert err == f"avbench: error: {result.error}\n"
    assert all(word in err for word in words), err
