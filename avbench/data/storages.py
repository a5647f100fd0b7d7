"""lhotse's own feature storages, built from the cache for the side-by-side comparison.

- ``lilcom_chunky``: one lilcom-compressed chunked archive per shard (lhotse's default for
  features). Lossy: values are rounded to multiples of 2^-5, so it is not in the
  identical-batches test.
- ``numpy_hdf5``: one HDF5 file per shard, one dataset per array (needs h5py).

A clip's mel and F0 are stored as one ``(frames, n_mels + 1)`` array (one read per clip).
Each is written once beside the cache (keyed by it), its key map last (atomic); the readers
are lhotse's, opened once per process and shard.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from avbench.data.cache import FeatureCache
from avbench.data.corpus import write_json_atomic
from avbench.data.readers import MmapReader
from avbench.runtime import ConfigError

STORAGES = ("lilcom_chunky", "numpy_hdf5")


def _classes(kind: str) -> tuple[Any, Any, str]:
    try:
        if kind == "lilcom_chunky":
            import lilcom  # noqa: F401  (lhotse checks lazily; fail here with the fix)
            from lhotse.features.io import LilcomChunkyReader, LilcomChunkyWriter

            return LilcomChunkyWriter, LilcomChunkyReader, "{}.lca"
        import h5py  # noqa: F401
        from lhotse.features.io import NumpyHdf5Reader, NumpyHdf5Writer

        return NumpyHdf5Writer, NumpyHdf5Reader, "{}.h5"
    except ImportError as error:
        raise ConfigError(f"loader={kind} needs {error.name}: pip install 'avbench[data]'"
                          ) from error


def build_storage(cache: FeatureCache, kind: str) -> Path:
    """Write every cached clip into lhotse's ``kind`` storage once; returns its folder."""
    writer_cls, _, pattern = _classes(kind)
    entries = cache.entries()
    folder = cache.root / kind
    keys_path = folder / "keys.json"
    if keys_path.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    reader = MmapReader(cache, {e.id: e for e in entries})
    keys: dict[str, list[str]] = {}
    for shard in sorted({e.shard for e in entries}):
        path = folder / pattern.format(shard)
        with writer_cls(path) as writer:
            for entry in (e for e in entries if e.shard == shard):
                mel, f0 = reader.read(entry.id)
                both = np.concatenate([mel, np.asarray(f0)[:, None]], axis=1)
                keys[entry.id] = [writer.storage_path, writer.write(entry.id, both)]
    write_json_atomic(keys_path, keys)
    return folder


class StorageReader:
    """Reads a clip's mel and F0 through lhotse's reader for ``kind``."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind = kind
        self.keys = json.loads((folder / "keys.json").read_text())
        self._readers: dict[str, Any] = {}

    def __call__(self, cut: Any) -> tuple[np.ndarray, np.ndarray]:
        path, key = self.keys[cut.id]
        reader = self._readers.get(path)
        if reader is None:
            reader = self._readers[path] = _classes(self.kind)[1](path)
        both = reader.read(key)
        return both[:, :-1], both[:, -1]
