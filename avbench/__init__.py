"""avbench: Hydra-configured benchmarks for voice pipelines, tracked in MLflow."""

from __future__ import annotations

from typing import Any

from avbench.version import __version__

__all__ = ["Result", "__version__", "benchmark"]


def __getattr__(name: str) -> Any:
    """``avbench.benchmark`` and ``avbench.Result`` load on first use: ``import avbench``
    stays fast (no torch, Hydra or MLflow)."""
    if name in ("Result", "benchmark"):
        from avbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'avbench' has no attribute {name!r}")
