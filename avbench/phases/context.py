"""Phase 0, context: resolve the run's device, dtype, kernel and caches (``RunContext``)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig

from avbench.measure.allocator import retain_freed_memory
from avbench.measure.openmp import idle_spin_tags
from avbench.measure.threads import apply_threads
from avbench.run_types import RunContext
from avbench.runtime import (
    native_cpu_precision,
    profile_matches,
    resolve_cache_dir,
    resolve_dtype,
    resolve_kernel,
)
from avbench.tracking import RunLogger

log = logging.getLogger(__name__)


def open_run(cfg: DictConfig, logger: RunLogger, out_dir: Path, name: str,
             device: torch.device) -> RunContext:
    """Resolve dtype, kernel and caches, apply thread and allocator settings, tag them."""
    dtype = resolve_dtype(cfg.precision)
    kernel, interpreted = resolve_kernel(cfg.kernel.name, device)
    cache_dir = resolve_cache_dir(cfg.paths.cache_dir)
    ctx = RunContext(cfg, logger, out_dir, name, device, dtype, kernel, cache_dir,
                     resolve_cache_dir(cfg.backend.cache_dir, cfg.paths.cache_dir))
    ctx.set_tags(apply_threads(cfg.bench.threads) | idle_spin_tags()
                 | retain_freed_memory(cfg.bench.retain_freed_memory))
    native = device.type != "cpu" or native_cpu_precision(dtype)
    if not native:
        log.warning("precision=%s on this CPU has no native %s instructions: PyTorch uses "
                    "slow fallback kernels, so expect it to be far slower than fp32",
                    cfg.precision.name, cfg.precision.dtype)
    ctx.set_tags({"device": str(device), "kernel.effective": kernel,
                  "precision.native": str(native).lower(),
                  "kernel.interpreted": str(interpreted).lower(),
                  "gpu.profile_match": profile_matches(cfg.gpu, device)})
    return ctx
