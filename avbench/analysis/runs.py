"""MLflow runs as a tidy pandas DataFrame (one row per run) and their per-repeat samples.

Reads only: the client comes from ``avbench.tracking`` (which owns the mlflow
import and its error messages); nothing here writes to a store.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from avbench.analysis.cells import identity
from avbench.analysis.validity import VALID, verdict
from avbench.runtime import ConfigError

DEFAULT_EXPERIMENT = "avbench"
SWEEP_TAG = "avbench.sweep"
REUSED_TAG = "avbench.resumed_from"  # a resumed sweep's cell: the run that measured it
PARENT_TAG = "mlflow.parentRunId"
# Groups that decide what a run measures, in the order labels show them.
CONFIG_GROUPS = ("pipeline", "preset", "precision", "backend", "kernel", "gpu", "audio",
                 "scenario")
# grading.<metric> tags (graded | not graded (seeded: ...)) are copied as they are.
GRADING_PREFIX = "grading."
# Tags copied to columns (tag -> column).
TAG_COLUMNS = {
    "hardware.key": "hardware_key", "hardware.gpu_name": "gpu_name",
    "hardware.cpu_model": "cpu_model", "device": "device",
    "backend.requested": "backend_requested", "backend.effective": "backend_effective",
    "backend.fallback_reason": "backend_fallback", "backend.cache": "backend_cache",
    "parity.pass": "parity_pass", "kernel.effective": "kernel_effective",
    "git.sha": "git_sha", "git.dirty": "git_dirty", "bench.unstable": "unstable",
    "bench.repeats": "repeats", "error": "error", PARENT_TAG: "sweep_id",
    "parity.failures": "parity_failures", REUSED_TAG: "reused_from",
}
# The verdict's columns (avbench.analysis.validity): VALID | INVALID, its reasons, and
# whether the run was judged when it ran (False: derived from its flags here).
VALIDITY_COLUMNS = ("validity", "validity_reasons", "validity_judged")


class AnalysisError(ConfigError):
    """Nothing to analyse where the user pointed; the message says what to do."""


def open_store(uri: str | None = None) -> Any:
    """A read client for ``uri`` (default: MLFLOW_TRACKING_URI, else the project's
    mlflow.db, found from the working directory up to the project's root)."""
    from avbench.tracking.logger import DEFAULT_URI, default_tracking_uri
    from avbench.tracking.mlflow_logger import open_client

    resolved = uri or default_tracking_uri()
    # Opening a missing (or empty) SQLite file would silently make it a new empty store.
    db = Path(resolved[len("sqlite:///"):]) if resolved.startswith("sqlite:///") else None
    if db is not None and (not db.is_file() or db.stat().st_size == 0):
        what = "an empty file" if db.is_file() else "nothing"
        searched = ("" if uri or resolved != DEFAULT_URI else
                    f"; none in {Path.cwd()} or a folder above it up to the project's root")
        raise AnalysisError(f"no MLflow store at {resolved} ({what} there{searched}): run a "
                            "benchmark first, or point tracking.uri (or MLFLOW_TRACKING_URI) "
                            "at the store to analyse")
    return open_client(resolved)


def experiment_ids(client: Any, experiment: str | None = DEFAULT_EXPERIMENT) -> list[str]:
    """Ids of ``experiment`` (None: every experiment in the store)."""
    if experiment is None:
        return [e.experiment_id for e in client.search_experiments()]
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise AnalysisError(f"no experiment {experiment!r} in the store "
                            "(set tracking.experiment, or run a benchmark first)")
    return [found.experiment_id]


def search(client: Any, ids: list[str], filter_string: str = "",
           order_by: list[str] | None = None) -> list[Any]:
    """Every matching run, following MLflow's pagination."""
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(ids, filter_string, max_results=1000, order_by=order_by,
                                  page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _to_ms(when: datetime | str | None) -> int | None:
    return None if when is None else int(pd.Timestamp(when).timestamp() * 1000)


def load_runs(client: Any, experiment: str | None = DEFAULT_EXPERIMENT,
              sweep: str | None = None, status: str | None = None,
              since: datetime | str | None = None, until: datetime | str | None = None,
              include_sweep_parents: bool = False) -> pd.DataFrame:
    """One row per run: group choices, metrics, hardware key, status, sweep id, start time.

    Filters: ``sweep`` (parent run id: its children only), ``status``
    (FINISHED, FAILED...), ``since``/``until`` (start time). Sweep parent runs
    carry summaries, not measurements, and are left out unless asked for.
    """
    clauses = []
    if sweep:
        clauses.append(f"tags.`{PARENT_TAG}` = '{sweep}'")
    if status:
        clauses.append(f"attributes.status = '{status.upper()}'")
    if since is not None:
        clauses.append(f"attributes.start_time >= {_to_ms(since)}")
    if until is not None:
        clauses.append(f"attributes.start_time <= {_to_ms(until)}")
    runs = search(client, experiment_ids(client, experiment), " and ".join(clauses),
                  order_by=["attributes.start_time ASC"])
    if not include_sweep_parents:
        runs = [r for r in runs if r.data.tags.get(SWEEP_TAG) != "true"]
    return runs_frame(runs)


def runs_frame(runs: Iterable[Any]) -> pd.DataFrame:
    """The tidy frame of MLflow ``Run`` objects (see ``load_runs``)."""
    rows = []
    for run in runs:
        tags = run.data.tags
        row: dict[str, Any] = {
            "run_id": run.info.run_id, "run_name": run.info.run_name,
            "status": run.info.status, "experiment_id": run.info.experiment_id,
            "start_time": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC"),
            "end_time": (pd.Timestamp(run.info.end_time, unit="ms", tz="UTC")
                         if run.info.end_time else pd.NaT),
        }
        row |= {column: tags.get(tag) for tag, column in TAG_COLUMNS.items()}
        row |= {key.removeprefix("choice."): value for key, value in tags.items()
                if key.startswith("choice.")}
        row |= {key: value for key, value in tags.items() if key.startswith(GRADING_PREFIX)}
        row |= run.data.metrics
        row |= identity(run.data.params, tags, run.data.metrics)
        judged = verdict(run.info.status, tags, run.data.metrics)
        row |= dict(zip(VALIDITY_COLUMNS, (judged.validity, "; ".join(judged.reasons),
                                           judged.judged), strict=True))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["run_id", "run_name", "status", "start_time",
                                     *TAG_COLUMNS.values(), *VALIDITY_COLUMNS])
    frame["repeats"] = pd.to_numeric(frame["repeats"])
    frame["cell"] = cell_labels(frame)
    return frame


def valid_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """The FINISHED runs judged VALID: what every summary (best cell, Pareto front, hardware
    table, compare's gate) is built on."""
    return frame[(frame["status"] == "FINISHED") & (_validity(frame) == VALID)]


def invalid_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """The FINISHED runs judged INVALID: shown with their reasons, left out of summaries."""
    return frame[(frame["status"] == "FINISHED") & (_validity(frame) != VALID)]


def _validity(frame: pd.DataFrame) -> pd.Series:
    """The ``validity`` column; a frame built by hand without one counts as VALID."""
    return frame.get("validity", pd.Series(VALID, index=frame.index))


def group_columns(frame: pd.DataFrame) -> list[str]:
    """The config-group columns that say what a run measured. Others (task, tracking, bench,
    local...) change how it is measured or recorded: runs differing only there match."""
    return [c for c in CONFIG_GROUPS if c in frame.columns]


def cell_labels(frame: pd.DataFrame) -> pd.Series:
    """A short label per run from the groups that vary in ``frame`` (``preset=fast precision=bf16``);
    the run name when nothing varies."""
    varying = [c for c in group_columns(frame) if frame[c].nunique(dropna=False) > 1]
    if not varying:
        return frame["run_name"].astype(str)
    return frame[varying].astype(str).apply(
        lambda row: " ".join(f"{k}={v}" for k, v in row.items()), axis=1)


def latest_sweep(client: Any, experiment: str | None = DEFAULT_EXPERIMENT) -> str:
    """Run id of the most recently started sweep parent."""
    ids = experiment_ids(client, experiment)
    page = client.search_runs(ids, f"tags.`{SWEEP_TAG}` = 'true'", max_results=1,
                              order_by=["attributes.start_time DESC"])
    if not page:
        raise AnalysisError("no sweep in the store: run one with `python -m avbench -m ...` "
                            "or pass sweep.id=<parent run id>")
    return page[0].info.run_id


def get_run(client: Any, run_id: str) -> Any:
    try:
        return client.get_run(run_id)
    except Exception:  # MlflowException for an unknown or malformed id
        raise AnalysisError(f"no run {run_id!r} in the store (pass a run id or a sweep's "
                            "parent run id as shown by `mlflow ui` or the sweep summary)") from None


def is_sweep(run: Any) -> bool:
    return run.data.tags.get(SWEEP_TAG) == "true"


def resolve_runs(client: Any, run_or_sweep: str) -> pd.DataFrame:
    """The runs behind an id: a sweep parent's children, or the single run itself."""
    run = get_run(client, run_or_sweep)
    if is_sweep(run):
        return load_runs(client, experiment=None, sweep=run_or_sweep)
    return runs_frame([run])


def measured_by(client: Any, run_id: str) -> str:
    """The run whose artifacts hold ``run_id``'s measurement: itself, or, for a cell a
    resumed sweep reused, the run that measured it (its ``avbench.resumed_from`` tag)."""
    return get_run(client, run_id).data.tags.get(REUSED_TAG) or run_id


def load_samples(client: Any, run_id: str) -> pd.DataFrame:
    """Per-repeat stage times of one run (its ``timings.csv``: repeat, <stage>_ms, total_ms);
    a reused cell's come from the run that measured it."""
    origin = measured_by(client, run_id)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(origin, "timings.csv", tmp)
        except Exception:  # missing artifact: a failed run or a task that times nothing
            via = f" (measured by run {origin})" if origin != run_id else ""
            raise AnalysisError(f"run {run_id}{via} has no timings.csv: it did not finish, "
                                "or its artifacts were deleted") from None
        return pd.read_csv(path)


def total_ms_samples(client: Any, run_ids: Iterable[str]) -> dict[str, np.ndarray]:
    """``total_ms`` per repeat for each run id (the samples the statistics run on)."""
    return {run_id: load_samples(client, run_id)["total_ms"].to_numpy(dtype=float)
            for run_id in run_ids}
