"""Thread counts for torch and the BLAS/OpenMP pools, set from config and recorded."""

from __future__ import annotations

import os
from typing import Any

import torch
from threadpoolctl import threadpool_info, threadpool_limits

_limits: Any = None  # keeps the threadpoolctl limit alive for the process


def apply_threads(threads: int | None) -> dict[str, int]:
    """Use ``threads`` (None: the cores this process may run on, so a cell pinned to a
    share of the machine gets matching pools) everywhere; returns what is in force."""
    global _limits
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    count = threads or usable or os.cpu_count() or 1
    if count < 1:
        raise ValueError(f"bench.threads must be at least 1, got {count}")
    torch.set_num_threads(count)
    _limits = threadpool_limits(limits=count)
    pools = threadpool_info()
    recorded = {"threads.torch": torch.get_num_threads()}
    for api in ("blas", "openmp"):
        sizes = [pool["num_threads"] for pool in pools if pool.get("user_api") == api]
        if sizes:
            recorded[f"threads.{api}"] = max(sizes)
    return recorded
