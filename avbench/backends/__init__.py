"""How neural components execute. ``prepare`` applies the configured backend to a pipeline."""

from avbench.backends.base import BackendReport, prepare

__all__ = ["BackendReport", "prepare"]
