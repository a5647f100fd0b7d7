"""Readers of the feature cache that the loaders and the storage writers share: memory-
mapped shards, and the arrays lhotse's Shar iterator loads into each cut."""

from __future__ import annotations

from typing import Any

import numpy as np

from avbench.data.cache import Entry, FeatureCache


class MmapReader:
    """Slices of memory-mapped shards; each shard is mapped once per process."""

    def __init__(self, cache: FeatureCache, entries: dict[str, Entry]) -> None:
        self.cache, self.entries = cache, entries
        self._maps: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, cut: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.read(cut.id)

    def read(self, clip_id: str) -> tuple[np.ndarray, np.ndarray]:
        entry = self.entries[clip_id]
        maps = self._maps.get(entry.shard)
        if maps is None:
            maps = self._maps[entry.shard] = (
                np.load(self.cache.shard_path(entry.shard, "mel"), mmap_mode="r"),
                np.load(self.cache.shard_path(entry.shard, "f0"), mmap_mode="r"))
        end = entry.offset + entry.frames
        return maps[0][entry.offset:end], maps[1][entry.offset:end]


def shar_reader(cut: Any) -> tuple[np.ndarray, np.ndarray]:
    """Arrays that lhotse's Shar iterator already read from the tar shards into the cut."""
    return cut.load_custom("mel"), cut.load_custom("f0_hz")
