"""avbench: Hydra-configured benchmarks for voice pipelines, tracked in MLflow."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Result", "benchmark"]


def __getattr__(name: str) -> Any:
    """``avbench.benchmark`` and ``avbench.Result`` load on first use: ``import avbench``
    stays fast (no torch, Hydra or MLflow)."""
    if name in __all__:
        from avbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'avbench' has no attribute {name!r}")
