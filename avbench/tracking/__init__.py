"""Experiment tracking; the only package that imports mlflow (lazily)."""

from avbench.tracking.logger import NullLogger, RunLogger, make_logger, resolve_tracking_uri

__all__ = ["NullLogger", "RunLogger", "make_logger", "resolve_tracking_uri"]
