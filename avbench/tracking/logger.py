"""The run-logger interface the tasks use, and the choice between MLflow and none."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

PARENT_RUN_ENV = "AVBENCH_PARENT_RUN_ID"
# The store a sweep's parent opened (absolute), handed to every job of the sweep: a job
# started in another working directory (a Ray worker) writes to the same store.
SWEEP_URI_ENV = "AVBENCH_SWEEP_TRACKING_URI"
DEFAULT_URI = "sqlite:///mlflow.db"


class RunLogger(Protocol):
    run_id: str | None

    def start(self, run_name: str, tags: Mapping[str, str]) -> None: ...
    def log_params(self, params: Mapping[str, Any]) -> None: ...
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...
    def log_series(self, name: str, values: list[float]) -> None: ...
    def set_tags(self, tags: Mapping[str, Any]) -> None: ...
    def log_artifact(self, path: Path) -> None: ...
    def end(self, status: str, error: str | None = None) -> None: ...
    def child(self, run_name: str, tags: Mapping[str, str]) -> RunLogger: ...


class NullLogger:
    """tracking=none: results stay in the Hydra output directory."""

    run_id: str | None = None

    def start(self, run_name: str, tags: Mapping[str, str]) -> None:
        pass

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        pass

    def log_series(self, name: str, values: list[float]) -> None:
        pass

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        pass

    def log_artifact(self, path: Path) -> None:
        pass

    def end(self, status: str, error: str | None = None) -> None:
        pass

    def child(self, run_name: str, tags: Mapping[str, str]) -> NullLogger:
        return NullLogger()


def resolve_tracking_uri(configured: str | None) -> str | None:
    """The store a run writes to: in a sweep's job, the store its parent opened; else the
    configured URI. ``tracking.uri`` defaults to ``MLFLOW_TRACKING_URI`` (else
    ./mlflow.db) in conf/tracking/mlflow.yaml, so a ``tracking.uri=`` on the command line
    wins over the environment, as every other override does."""
    return os.environ.get(SWEEP_URI_ENV) or configured


STORE_FILE = "mlflow.db"
# What marks a project's root: the search for its store stops there.
PROJECT_MARKERS = ("pyproject.toml", ".git")


def default_tracking_uri(start: Path | None = None) -> str:
    """Where a store is read when no URI is given: MLFLOW_TRACKING_URI, else the nearest
    mlflow.db from ``start`` (the working directory) up to the project's root (the first
    folder holding pyproject.toml or .git), else ./mlflow.db. A notebook's kernel starts in
    notebooks/, a shell anywhere in the checkout: both find the project's store."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / STORE_FILE).is_file():
            return f"sqlite:///{folder / STORE_FILE}"
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            break
    return DEFAULT_URI


def make_logger(tracking_cfg: Any) -> RunLogger:
    """An MLflow logger for tracking=mlflow, a null one for tracking=none."""
    if not tracking_cfg.enabled:
        return NullLogger()
    from avbench.tracking.mlflow_logger import MlflowLogger

    return MlflowLogger(
        uri=resolve_tracking_uri(tracking_cfg.uri),
        experiment=tracking_cfg.experiment,
        parent_run_id=os.environ.get(PARENT_RUN_ENV),
    )
