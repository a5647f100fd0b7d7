"""The loader variants, all fed by one lhotse cut sampler so they yield the same batches.

- ``naive``: decode, resample and extract features from the audio file, every epoch.
- ``npy``: per-clip feature files read with ``np.load`` (lhotse ``NumpyFilesReader``), as
  the anchor document's recipe does.
- ``mmap``: features packed into a few large ``.npy`` shards, memory-mapped once per
  process; a batch is one copy from the mapped pages into the padded batch array.
- ``lilcom_chunky``, ``numpy_hdf5``: lhotse's chunked-archive and HDF5 storages, one file per
  shard (see :mod:`avbench.data.storages`).
- ``shar``: lhotse Shar (sequential tar shards of the same arrays); read with an iterable
  dataset whose sampler runs in the workers, so its order differs from the others.

A batch is a dict: ``mel (B, T, n_mels)``, ``f0_hz (B, T)`` (zero-padded), ``frames (B,)``,
``audio_s (B,)`` and ``ids`` (list of cut ids).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avbench.data.cache import Entry, FeatureCache
from avbench.data.features import FeatureExtractor, FeatureSettings
from avbench.data.readers import MmapReader, shar_reader
from avbench.data.storages import STORAGES, StorageReader, build_storage
from avbench.runtime import ConfigError

VARIANTS = ("naive", "npy", "mmap", "shar", "lilcom_chunky", "numpy_hdf5")
Reader = Callable[[Any], tuple[np.ndarray, np.ndarray]]


def pack(items: list[tuple[str, np.ndarray, np.ndarray, float]], n_mels: int) -> dict:
    """Pad to the longest clip; one copy per clip from its source into one float32 array
    ``(B, T, n_mels + 1)`` (mel, then F0). One array is one shared-memory segment to hand
    from a worker to the training process; see :func:`unpack`."""
    frames = np.array([len(mel) for _, mel, _, _ in items], dtype=np.int64)
    features = np.zeros((len(items), int(frames.max()), n_mels + 1), dtype=np.float32)
    for i, (_, clip_mel, clip_f0, _) in enumerate(items):
        features[i, : len(clip_mel), :n_mels] = clip_mel
        features[i, : len(clip_f0), n_mels] = clip_f0
    return {"features": torch.from_numpy(features), "frames": frames,
            "audio_s": np.array([a for _, _, _, a in items], dtype=np.float64),
            "ids": [i for i, _, _, _ in items]}


def unpack(packed: dict) -> dict:
    """The batch as the step reads it: views of the packed array, no copy."""
    features = packed["features"]
    return {"mel": features[..., :-1], "f0_hz": features[..., -1],
            "frames": torch.from_numpy(packed["frames"]),
            "audio_s": torch.from_numpy(packed["audio_s"]), "ids": packed["ids"]}


def collate(items: list[tuple[str, np.ndarray, np.ndarray, float]], n_mels: int) -> dict:
    """The padded batch dict (see the module docstring)."""
    return unpack(pack(items, n_mels))


class NaiveReader:
    """Decode + resample + log-mel + YIN per clip; the extractor is built once per process."""

    def __init__(self, settings: FeatureSettings) -> None:
        self.settings = settings
        self._extractor: FeatureExtractor | None = None

    def __call__(self, cut: Any) -> tuple[np.ndarray, np.ndarray]:
        if self._extractor is None:
            self._extractor = FeatureExtractor(self.settings)
        feats = self._extractor.from_file(cut.recording.sources[0].source)
        return feats.mel, feats.f0_hz


class NpyReader:
    """Two ``np.load`` calls per clip through lhotse's NumpyFilesReader."""

    def __init__(self, cache: FeatureCache, entries: dict[str, Entry]) -> None:
        self.cache, self.entries = cache, entries
        self._readers: dict[str, Any] = {}

    def __call__(self, cut: Any) -> tuple[np.ndarray, np.ndarray]:
        from lhotse.features.io import NumpyFilesReader

        entry = self.entries[cut.id]
        reader = self._readers.get(entry.shard)
        if reader is None:
            reader = self._readers[entry.shard] = NumpyFilesReader(
                self.cache.npy_root(entry.shard))
        return reader.read(entry.mel_key), reader.read(entry.f0_key)


class CutBatches(torch.utils.data.Dataset):
    """Map-style lhotse dataset: one sampled batch -> a packed batch (:func:`pack`).

    The batch arrives as a tuple of cut ids (:class:`CutIds`): the cuts themselves reach
    each worker once, with the dataset, instead of being pickled with every batch. Shar's
    iterable wrapper samples inside the worker and passes the CutSet itself."""

    def __init__(self, read: Reader, n_mels: int, cuts: Any = None) -> None:
        self.read, self.n_mels = read, n_mels
        self.cuts = {cut.id: cut for cut in cuts} if cuts is not None else {}

    def __getitem__(self, batch: Any) -> dict:
        cuts = [self.cuts[i] for i in batch] if isinstance(batch, tuple) else batch
        items = []
        for cut in cuts:
            mel, f0 = self.read(cut)
            items.append((cut.id, mel, f0, float(cut.duration)))
        return pack(items, self.n_mels)


class CutIds(torch.utils.data.Sampler):
    """A lhotse sampler whose batches travel to the workers as tuples of cut ids."""

    def __init__(self, sampler: Any) -> None:
        self.sampler = sampler

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        return (tuple(cut.id for cut in batch) for batch in self.sampler)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)


def make_reader(variant: str, settings: FeatureSettings, cache: FeatureCache | None) -> Reader:
    if variant not in VARIANTS:
        raise ConfigError(f"loader={variant} is not a loader; choose one of {list(VARIANTS)}")
    if variant == "naive":
        return NaiveReader(settings)
    if variant == "shar":
        return shar_reader
    assert cache is not None
    if variant in STORAGES:
        return StorageReader(variant, build_storage(cache, variant))
    entries = {e.id: e for e in cache.entries()}
    return NpyReader(cache, entries) if variant == "npy" else MmapReader(cache, entries)


def make_loader(variant: str, cuts: Any, settings: FeatureSettings,
                cache: FeatureCache | None, data_cfg: Any,
                shar_dir: Path | None = None) -> torch.utils.data.DataLoader:
    """A DataLoader over ``cuts`` (a lhotse CutSet) for one variant, with the run's
    workers, prefetch factor and pinned memory. Call ``loader.sampler_epoch(n)`` (set here)
    before each epoch so every variant shuffles the same way."""
    from lhotse.dataset import SimpleCutSampler
    from lhotse.dataset.iterable_dataset import IterableDatasetWrapper

    workers = int(data_cfg.workers)
    dataset = CutBatches(make_reader(variant, settings, cache), settings.n_mels,
                         None if variant == "shar" else cuts)
    options: dict[str, Any] = {"batch_size": None, "num_workers": workers,
                               "collate_fn": _as_is,
                               "pin_memory": bool(data_cfg.pin_memory) and
                               torch.cuda.is_available()}
    if workers > 0:
        options |= {"prefetch_factor": int(data_cfg.prefetch), "persistent_workers": True}
    if variant == "shar":
        from lhotse import CutSet

        assert shar_dir is not None
        shar_cuts = CutSet.from_shar(in_dir=shar_dir, split_for_dataloading=workers > 0,
                                     shuffle_shards=True, seed=int(data_cfg.seed))
        sampler = SimpleCutSampler(shar_cuts, max_cuts=int(data_cfg.batch_size),
                                   shuffle=False)
        loader = torch.utils.data.DataLoader(
            IterableDatasetWrapper(dataset, sampler, auto_increment_epoch=workers > 0),
            **options)
    else:
        sampler = CutIds(SimpleCutSampler(cuts, max_cuts=int(data_cfg.batch_size),
                                          shuffle=True, seed=int(data_cfg.seed)))
        loader = torch.utils.data.DataLoader(dataset, sampler=sampler, **options)
    loader.sampler_epoch = sampler.set_epoch  # type: ignore[attr-defined]
    return loader


def _as_is(batch: dict) -> dict:
    """The packed batch unchanged: DataLoader's default would turn its small numpy arrays
    into tensors, one more shared-memory segment each."""
    return batch


def epoch_batches(loader: torch.utils.data.DataLoader, epoch: int) -> Iterator[dict]:
    loader.sampler_epoch(epoch)  # type: ignore[attr-defined]
    return map(unpack, loader)


def build_shar(cache: FeatureCache, cuts: Any, out_dir: Path, shard_clips: int) -> Path:
    """Write the cached features as lhotse Shar shards (numpy arrays) once; returns the dir."""
    from avbench.data.corpus import write_json_atomic

    done = out_dir.with_name(out_dir.name + ".done.json")  # beside: Shar reads every file
    if done.exists():
        return out_dir
    reader = MmapReader(cache, {e.id: e for e in cache.entries()})
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # No frame_shift: lhotse would then trim the arrays to its own frame count for the cut.
    attached = [cut.attach_tensor("mel", np.array(reader(cut)[0]))
                .attach_tensor("f0_hz", np.array(reader(cut)[1])) for cut in cuts]
    from lhotse import CutSet

    CutSet.from_cuts(attached).to_shar(tmp, fields={"mel": "numpy", "f0_hz": "numpy"},
                                       shard_size=shard_clips, warn_unused_fields=False)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    write_json_atomic(done, {"clips": len(attached)})
    return out_dir
