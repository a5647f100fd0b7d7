"""The parent run of a sweep carries its children's summary when the sweep ends."""

from __future__ import annotations

import statistics

from tests.analysis.tiny_sweep import EXPECTED_FAILED, TinySweep


def test_parent_summary(store, tiny_sweep: TinySweep) -> None:
    parent = store.get_run(tiny_sweep.sweep_id)
    children = store.search_runs([parent.info.experiment_id],
                                 f"tags.`mlflow.parentRunId` = '{tiny_sweep.sweep_id}'")
    finished = [c for c in children if c.info.status == "FINISHED"]
    best = min(finished, key=lambda c: c.data.metrics["rtf"])
    metrics, tags = parent.data.metrics, parent.data.tags
    assert metrics["sweep.cells"] == len(children) == 4
    assert metrics["sweep.failed"] == EXPECTED_FAILED
    assert metrics["sweep.best_rtf"] == best.data.metrics["rtf"]
    assert metrics["sweep.median_rtf"] == statistics.median(c.data.metrics["rtf"]
                                                            for c in finished)
    assert tags["sweep.best_run_id"] == best.info.run_id
    assert tags["sweep.best_cell"] == best.info.run_name
    failed_names = {c.info.run_name for c in children if c.info.status == "FAILED"}
    assert set(filter(None, tags.get("sweep.failed_cells", "").split(", "))) == failed_names
    assert parent.info.status == ("FAILED" if EXPECTED_FAILED else "FINISHED")
