"""MLflow run logging through MlflowClient: no global active run, nothing leaks."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock
from mlflow.entities import Metric, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from avbench.errors import first_line
from avbench.interrupt import deferred
from avbench.tracking import reserve
from avbench.tracking.connection import (
    TrackingError,
    bound_requests,
    check_reachable,
    is_disk_full,
    is_read_only_error,
    sqlite_path,
    store_failure,
)

log = logging.getLogger(__name__)

MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000
MIGRATION_LOCK_TIMEOUT_S = 600.0  # a first migration of a fresh store takes seconds


def get_or_create_experiment(client: MlflowClient, name: str) -> str:
    """Experiment id by name; safe when another process creates it at the same time."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException as error:
        if is_read_only_error(error):
            raise TrackingError(f"the MLflow store {client.tracking_uri} is read-only") from error
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def _check_writable(uri: str | None, db: Path) -> None:
    """A store whose database (or its folder, where SQLite writes its journal) cannot be
    written fails here in one line, not at the first write with SQLAlchemy's traceback."""
    folder = db.parent if db.parent != Path("") else Path(".")
    if (db.exists() and not os.access(db, os.W_OK)) or (
            folder.exists() and not os.access(folder, os.W_OK)):
        raise TrackingError(f"the MLflow store {uri} is read-only "
                            "(make it writable, point tracking.uri elsewhere, or use "
                            "tracking=none)")


def open_client(uri: str | None) -> MlflowClient:
    """A client of the store at ``uri``, its schema created or migrated first.

    A server must answer within a few seconds (tracking/connection.py); its requests are
    bounded. For SQLite the first open in each process runs under an inter-process file
    lock beside the database, so concurrent runs never migrate the same file at once
    (MLflow's own sessions then wait up to 20 s on a busy database: ``PRAGMA
    busy_timeout``), and room to end a run on a full disk is reserved (tracking/reserve.py).
    """
    bound_requests()
    check_reachable(uri)
    db = sqlite_path(uri)
    if db is not None:
        _check_writable(uri, db)
    try:
        if db is None:
            return _migrated_client(uri)
        db.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(db) + ".lock", timeout=MIGRATION_LOCK_TIMEOUT_S):
            client = _migrated_client(uri)
        reserve.hold(db)
        return UninterruptedClient(client)  # type: ignore[return-value]
    except Exception as error:  # the store's own errors vary by backend
        known = store_failure(error, uri)
        if known is not None:
            raise TrackingError(known) from error
        raise TrackingError(
            f"cannot open the MLflow store {uri!r}: {first_line(error)} "
            "(check tracking.uri / MLFLOW_TRACKING_URI, or use tracking=none)"
        ) from error


def _migrated_client(uri: str | None) -> MlflowClient:
    # Its store errors reach the user as one line (store_failure), not as its traceback.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    with deferred():
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)  # creates / migrates the schema
    return client


class UninterruptedClient:
    """A client of a SQLite store whose calls a SIGTERM / SIGINT never cuts in half (a
    write stopped midway can leave the database locked): the signal is raised when the
    call returns (avbench.interrupt.deferred). A server's requests are not deferred:
    cutting one short harms no store, and a signal must not wait on a slow or
    unreachable server."""

    def __init__(self, client: MlflowClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with deferred():
                return attribute(*args, **kwargs)

        return call


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
        with self._writing():
            run = self.client.create_run(self.experiment_id, run_name=run_name, tags=all_tags)
        self.run_id = run.info.run_id

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A write to the store: a failure the user can fix (a full or read-only disk) is
        one line naming the store, not the store's own traceback."""
        try:
            yield
        except Exception as error:
            known = store_failure(error, self.uri)
            if known is None:
                raise
            raise TrackingError(known) from error

    def log_params(self, params: Mapping[str, Any]) -> None:
        items = [Param(key, str(value)[:MAX_PARAM_CHARS]) for key, value in params.items()]
        with self._writing():
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
        with self._writing():
            for i in range(0, len(items), METRICS_PER_BATCH):
                self.client.log_batch(self.run_id, metrics=items[i : i + METRICS_PER_BATCH])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        with self._writing():
            for key, value in tags.items():
                self.client.set_tag(self.run_id, key, "" if value is None else str(value))

    def log_artifact(self, path: Path) -> None:
        with self._writing():
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
        if self.run_id is not None:
            terminate(self.client, self.uri, self.run_id, status, error)


def terminate(client: Any, uri: str | None, run_id: str, status: str,
              error: str | None = None) -> None:
    """End a run with its status (and error). On a SQLite store whose disk is full, the
    room reserved beside the database (tracking/reserve.py) is freed for it."""
    try:
        _terminate(client, run_id, status, error)
    except Exception as failure:
        db = sqlite_path(uri)
        if not (is_disk_full(failure) and db is not None and reserve.release(db)):
            raise
        log.debug("the disk of %s is full: ending run %s in the room reserved", db, run_id)
        _terminate(client, run_id, status, error)


def _terminate(client: Any, run_id: str, status: str, error: str | None) -> None:
    try:  # the status below must be written even when the tag cannot be
        if error:
            client.set_tag(run_id, "error", error[:MAX_PARAM_CHARS])
    finally:
        client.set_terminated(run_id, status=RunStatus.to_string(
            RunStatus.from_string(status)))
