"""Loader or compute? The verdict of a data run and the change it recommends.

The step waits for the loader for ``loader_wait_pct`` of the epoch. At or above
``threshold_pct`` the run is loader-bound, and the recommended change is the first that
applies: a feature cache instead of per-epoch extraction (naive), the memory-mapped cache
instead of per-file ``np.load`` (npy), more loader workers while cores are free, a deeper
prefetch. Below it the loader keeps up: the step is what to speed up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    bottleneck: str  # "loader" | "compute"
    recommendation: str
    reason: str


def verdict(loader_wait_pct: float, variant: str, workers: int, prefetch: int, cores: int,
            threshold_pct: float = 10.0) -> Verdict:
    """Judge one run from its measured wait share and its loader settings."""
    reason = f"the step waited for data {loader_wait_pct:.1f}% of the epoch " \
             f"(threshold {threshold_pct:g}%)"
    if loader_wait_pct < threshold_pct:
        return Verdict("compute", "the loader keeps up: speed up the step (precision, "
                       "backend=compile, a larger batch) or give it a faster device", reason)
    if variant == "naive":
        change = "cache the features: loader=mmap (features are re-extracted every epoch)"
    elif variant == "npy":
        change = "loader=mmap: one mapped shard read instead of two np.load per clip"
    elif workers < max(1, cores - 1):
        change = f"more loader workers: data.workers={workers + 1} ({cores} cores)"
    else:
        change = f"a deeper prefetch: data.prefetch={2 * max(1, prefetch)}, or more CPU cores"
    return Verdict("loader", change, reason)
