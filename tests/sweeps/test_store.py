"""Reading a sweep back from a real SQLite store: lost cells, overlaps, the tables."""

from __future__ import annotations

import json
from pathlib import Path

from mlflow.tracking import MlflowClient

from avbench.journal import LOST
from avbench.sweeps.plan import Cell, SweepPlan
from avbench.sweeps.store import core_overlaps, read_cells
from avbench.sweeps.summary import write_tables


def test_running_and_missing_cells_are_lost_and_ended(mlflow_store: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=mlflow_store)
    experiment_id = client.create_experiment("sweep")
    parent = client.create_run(experiment_id, run_name="sweep").info.run_id
    plan = SweepPlan([Cell(0, ("preset=fast",)), Cell(1, ("preset=quality",)),
                      Cell(2, ("preset=balanced",))], {"preset": ["fast", "quality", "balanced"]},
                     parallel=2, launcher="joblib")
    finished = client.create_run(experiment_id, run_name="fast", tags={
        "mlflow.parentRunId": parent, "avbench.job_num": "0", "bench.cpu_affinity": "0"})
    dead = client.create_run(experiment_id, run_name="quality", tags={
        "mlflow.parentRunId": parent, "avbench.job_num": "1", "bench.cpu_affinity": "0,1"})
    client.log_metric(finished.info.run_id, "rtf", 0.5)
    client.set_terminated(finished.info.run_id, "FINISHED")
    client.set_terminated(parent, "FAILED")
    results, children = read_cells(client, parent, plan)
    assert [r.status for r in results] == ["FINISHED", LOST, LOST]
    assert results[0].metrics == {"rtf": 0.5} and results[2].name == "preset=balanced"
    ended = client.get_run(dead.info.run_id)
    assert ended.info.status == "KILLED" and ended.data.tags["avbench.lost"] == "true"
    # The finished cell and the dead one overlapped in time on core 0.
    (note,) = core_overlaps(children)
    assert {"fast", "quality"} <= set(note.split()) and note.endswith("core(s) 0")
    csv_path, json_path, md_path = write_tables(results, tmp_path)
    rows = json.loads(json_path.read_text())
    assert [row["status"] for row in rows] == ["FINISHED", "LOST", "LOST"]
    assert rows[1]["run_id"] == dead.info.run_id and rows[2]["run_id"] == ""
    assert csv_path.read_text().splitlines()[0].startswith(
        "job,cell,name,status,validity,rtf,cv_pct")
    assert [row["validity"] for row in rows] == ["VALID", "INVALID", "INVALID"]
    assert rows[1]["reasons"] == "run LOST"
    markdown = md_path.read_text().splitlines()
    assert len(markdown) == 7 and markdown[-1] == "Best cell (VALID cells only): fast (RTF 0.500)"
