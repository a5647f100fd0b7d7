"""The parent run of a sweep carries its children's summary when the sweep ends: the best
cell is the fastest VALID one, INVALID cells are counted and named."""

from __future__ import annotations

import statistics

from avbench.analysis.validity import verdict
from tests.analysis.tiny_sweep import EXPECTED_FAILED, TinySweep


def test_parent_summary(store, tiny_sweep: TinySweep) -> None:
    parent = store.get_run(tiny_sweep.sweep_id)
    children = store.search_runs([parent.info.experiment_id],
                                 f"tags.`mlflow.parentRunId` = '{tiny_sweep.sweep_id}'")
    finished = [c for c in children if c.info.status == "FINISHED"]
    valid = [c for c in finished if verdict("FINISHED", c.data.tags, c.data.metrics).valid]
    metrics, tags = parent.data.metrics, parent.data.tags
    assert metrics["sweep.cells"] == len(children) == 4
    assert metrics["sweep.failed"] == EXPECTED_FAILED
    assert metrics["sweep.invalid"] == len(finished) - len(valid)
    if valid:  # the machine's noise decides how many cells are VALID; the rule holds either way
        best = min(valid, key=lambda c: c.data.metrics["rtf"])
        assert metrics["sweep.best_rtf"] == best.data.metrics["rtf"]
        assert metrics["sweep.median_rtf"] == statistics.median(c.data.metrics["rtf"]
                                                                for c in valid)
        assert tags["sweep.best_run_id"] == best.info.run_id
        assert tags["sweep.best_cell"] == best.info.run_name
    else:
        assert tags["sweep.best_cell"] == "none (no VALID cell)"
        assert "sweep.best_rtf" not in metrics
    failed_names = {c.info.run_name for c in children if c.info.status == "FAILED"}
    assert set(filter(None, tags.get("sweep.failed_cells", "").split(", "))) == failed_names
    assert parent.info.status == ("FAILED" if EXPECTED_FAILED else "FINISHED")
    # Run names hold every swept axis (gpu is not in the task's own name) and are unique.
    names = [c.info.run_name for c in children]
    assert len(set(names)) == 4 and all("gpu=" in name for name in names)


def test_a_plus_key_sweep(store, tiny_sweep: TinySweep) -> None:
    """The calibration sweep sweeps ``+pipeline.stage_ms.extra=...`` (a nested key added on
    the command line): its parent finished with both children, under a clean param key and
    two names."""
    parent = store.get_run(tiny_sweep.calibration_sweep_id)
    children = store.search_runs([parent.info.experiment_id],
                                 f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert parent.info.status == "FINISHED" and len(children) == 2
    assert all(c.info.status == "FINISHED" for c in children)
    assert parent.data.params["sweep.axis.pipeline.stage_ms.extra"] == "0.0,60.0"
    assert not any("+" in key for key in parent.data.params)
    assert sorted(c.info.run_name.rsplit("-", 1)[-1] for c in children) == [
        "extra=0.0", "extra=60.0"]
