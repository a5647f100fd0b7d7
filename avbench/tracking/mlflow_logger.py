"""MLflow run logging through MlflowClient: no global active run, nothing leaks."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000


class TrackingError(RuntimeError):
    """The tracking store cannot be reached or written."""


def get_or_create_experiment(client: MlflowClient, name: str) -> str:
    """Experiment id by name; safe when another process creates it at the same time."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def open_client(uri: str | None) -> MlflowClient:
    try:
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)
    except Exception as error:  # the store's own errors vary by backend
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise TrackingError(
            f"cannot open the MLflow store {uri!r}: {first_line} "
            "(check tracking.uri / MLFLOW_TRACKING_URI, or use tracking=none)"
        ) from error
    return client


class MlflowLogger:
    """One MLflow run: params, metrics, tags, artifacts; a child of the sweep when in one."""

    def __init__(self, uri: str | None, experiment: str, parent_run_id: str | None = None):
        self.client = open_client(uri)
        self.uri = uri
        self.experiment_id = get_or_create_experiment(self.client, experiment)
        self.parent_run_id = parent_run_id
        self.run_id: str | None = None

    def start(self, run_name: str, tags: Mapping[str, str]) -> None:
        all_tags = dict(tags)
        if self.parent_run_id:
            all_tags["mlflow.parentRunId"] = self.parent_run_id
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=all_tags)
        self.run_id = run.info.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        items = [Param(key, str(value)[:MAX_PARAM_CHARS]) for key, value in params.items()]
        for i in range(0, len(items), PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + PARAMS_PER_BATCH])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        now_ms = int(time.time() * 1000)
        items = [Metric(key, float(value), now_ms, step or 0) for key, value in metrics.items()]
        self._log_metric_batches(items)

    def log_series(self, name: str, values: list[float]) -> None:
        """One metric per step, so `mlflow ui` charts it over repeats."""
        now_ms = int(time.time() * 1000)
        self._log_metric_batches([Metric(name, float(v), now_ms, i) for i, v in enumerate(values)])

    def _log_metric_batches(self, items: list[Metric]) -> None:
        for i in range(0, len(items), METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=items[i : i + METRICS_PER_BATCH])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, "" if value is None else str(value))

    def log_artifact(self, path: Path) -> None:
        self.client.log_artifact(self.run_id, str(path))

    def child(self, run_name: str, tags: Mapping[str, str]) -> MlflowLogger:
        """A started run nested under this one (e.g. one per concurrency level); the
        caller ends it."""
        child = MlflowLogger.__new__(MlflowLogger)
        child.client, child.uri, child.experiment_id = self.client, self.uri, self.experiment_id
        child.parent_run_id, child.run_id = self.run_id, None
        child.start(run_name, tags)
        return child

    def end(self, status: str, error: str | None = None) -> None:
        if self.run_id is None:
            return
        if error:
            self.client.set_tag(self.run_id, "error", error[:MAX_PARAM_CHARS])
        self.client.set_terminated(self.run_id, status=RunStatus.to_string(
            RunStatus.from_string(status)))
