"""Backend interface and the report every run records as tags."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from avbench.pipelines.base import Pipeline
from avbench.runtime import ConfigError

AVAILABLE = ("pytorch",)


@dataclass
class BackendReport:
    """What was asked for, what ran (per component where they differ) and why."""

    requested: str
    effective: dict[str, str] = field(default_factory=dict)
    fallback_reason: str | None = None
    build_s: float = 0.0
    cache_hit: bool | None = None

    def tags(self) -> dict[str, str]:
        kinds = set(self.effective.values())
        if not kinds:  # a pipeline without neural components runs nothing on the backend
            effective = "none"
        elif len(kinds) == 1:
            effective = kinds.pop()
        else:
            effective = ",".join(f"{name}={kind}" for name, kind in self.effective.items())
        return {
            "backend.requested": self.requested,
            "backend.effective": effective,
            "backend.fallback_reason": self.fallback_reason or "",
        }


def prepare(pipeline: Pipeline, backend_cfg: Any) -> BackendReport:
    """Make every neural component of ``pipeline`` run on the configured backend."""
    if backend_cfg.name not in AVAILABLE:
        raise ConfigError(f"backend={backend_cfg.name} is not available in this build; "
                          f"choose one of {', '.join(AVAILABLE)}")
    start = time.perf_counter()
    report = BackendReport(requested=backend_cfg.name)
    for name, component in pipeline.components.items():
        # Eager PyTorch: the module itself is the callable (already on device, in dtype, eval).
        component.run = component.module
        report.effective[name] = "pytorch"
    report.build_s = time.perf_counter() - start
    return report
