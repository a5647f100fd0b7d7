"""Experiment tracking; the only package that imports mlflow (lazily)."""

from avbench.tracking.logger import (
    NullLogger,
    RunLogger,
    default_tracking_uri,
    make_logger,
    resolve_tracking_uri,
)

__all__ = ["NullLogger", "RunLogger", "default_tracking_uri", "make_logger",
           "resolve_tracking_uri"]
