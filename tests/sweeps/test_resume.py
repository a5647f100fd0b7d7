"""sweep.resume: a resumed sweep is a whole sweep. Reused cells link to the run that measured
them, and report, compare and the notebook read that run's samples; a cell whose input file
changed is measured again."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mlflow.tracking import MlflowClient

from avbench import journal, runner
from avbench.analysis import report, runs
from tests.analysis.test_notebook import execute_notebook
from tests.conftest import run_cli
from tests.sweeps.test_launchers import CHEAP
from tests.tasks.test_pipeline_task import compose_run


def write_song(path: Path, hz: float) -> None:
    tone = np.sin(np.arange(22050) * 2 * np.pi * hz / 22050).astype(np.float32)
    sf.write(path, tone, 22050)


def sweep_children(client: MlflowClient, parent: str) -> dict[str, object]:
    experiment = client.get_experiment_by_name("avbench")
    children = client.search_runs([experiment.experiment_id],
                                  f"tags.`mlflow.parentRunId` = '{parent}'")
    return {c.data.tags["avbench.job_num"]: c for c in children}


def parents(client: MlflowClient) -> list:
    experiment = client.get_experiment_by_name("avbench")
    return client.search_runs([experiment.experiment_id], "tags.`avbench.sweep` = 'true'",
                              order_by=["attributes.start_time"])


@pytest.mark.slow
def test_a_resumed_sweep_is_a_whole_sweep(mlflow_store: str, asset_cache: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Three cells: synthetic audio, a song, a song not written yet (fails). On resume the
    synthetic cell is reused, the song (rewritten meanwhile) and the failed cell are measured;
    then report, compare and the notebook run on the resumed sweep."""
    song, late = tmp_path / "song.wav", tmp_path / "late.wav"
    write_song(song, 220.0)
    cells = ["-m", *CHEAP, f"audio.path=null,{song},{late}", "sweep.name=resumable",
             f"paths.cache_dir={asset_cache}"]
    first = run_cli(*cells, f"hydra.sweep.dir={tmp_path}/first", cwd=tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr  # late.wav is missing
    write_song(song, 440.0)  # same path, new content
    write_song(late, 330.0)
    second = run_cli(*cells, "sweep.resume=true", f"hydra.sweep.dir={tmp_path}/second",
                     cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resume: 1 of 3 cells reused a FINISHED run" in second.stdout
    client = MlflowClient(tracking_uri=mlflow_store)
    assert [p.info.status for p in parents(client)] == ["FAILED", "FINISHED"]
    first_parent, second_parent = (p.info.run_id for p in parents(client))
    assert client.get_run(second_parent).data.tags["sweep.skipped"] == "1"
    before, resumed = sweep_children(client, first_parent), sweep_children(client, second_parent)
    origin = before["0"].info.run_id
    assert resumed["0"].data.tags["avbench.resumed_from"] == origin  # the link
    assert resumed["0"].data.metrics["rtf"] == before["0"].data.metrics["rtf"]
    for job in ("1", "2"):  # the changed song and the cell that had failed: measured now
        assert "avbench.resumed_from" not in resumed[job].data.tags
        assert resumed[job].info.status == "FINISHED" and resumed[job].data.metrics["rtf"] > 0
    assert resumed["1"].data.tags["avbench.cell_key"] != before["1"].data.tags["avbench.cell_key"]
    assert resumed["1"].data.tags["avbench.cell_inputs"] != before["1"].data.tags[
        "avbench.cell_inputs"]
    assert resumed["1"].data.tags["avbench.cell_config"] == before["1"].data.tags[
        "avbench.cell_config"]  # the same config: only the file's content changed

    # Analysis reads the reused cell's samples from the run that measured it.
    samples = runs.total_ms_samples(client, [resumed["0"].info.run_id, origin])
    assert np.array_equal(*samples.values())
    built = report.build_report(client, second_parent, tmp_path / "report")
    assert len(built.frame) == 3 and "latency_cdf.png" in {p.name for p in built.plots}
    journal.JOURNAL.clear()
    result = runner.run(compose_run(tmp_path / "compare", asset_cache, "task=compare",
                                   "tracking=mlflow", f"baseline={first_parent}",
                                   f"candidate={second_parent}", "task.gate_unstable=true"))
    code = journal.exit_code()
    journal.JOURNAL.clear()
    assert code in (0, 1), result.error  # compared (the song cell may differ): never code 2
    record = json.loads((tmp_path / "compare" / "out" / "compare.json").read_text())
    by_cell = {cell["cell"]: cell for cell in record["cells"]}
    reused = next(cell for cell in by_cell.values() if cell["change_pct"] == 0.0)
    assert reused["verdict"] == "unchanged"  # the same samples on both sides
    (tmp_path / "notebook").mkdir()
    _, text = execute_notebook(tmp_path / "notebook", monkeypatch, mlflow_store, second_parent)
    assert f"sweep {second_parent}: 3 runs, 3 finished" in text
