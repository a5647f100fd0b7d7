"""The feature cache: shards built in parallel, atomically, resumably, verified by checksum.

Layout under ``<cache>/data/features-<settings key>/``::

    shards/shard-00000/mel.npy, f0.npy   every clip of the shard packed end to end (mmap)
    shards/shard-00000/npy/...           one .npy per clip and feature (lhotse NumpyFilesWriter)
    shards/shard-00000.json              the shard's clips, offsets, sources, file checksums
    index.json                           written last: the shards and their metadata checksums

A shard is built in a temporary folder, renamed into place, then its metadata is written
(temp + rename): a shard without metadata is unfinished and is rebuilt, so a build that was
killed resumes where it stopped. A shard is reused only when its sources (clip id, size,
mtime) match and every file's BLAKE2 checksum verifies; otherwise it is rebuilt. A file lock
makes two concurrent builders build once: the second waits, then reuses every shard.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avbench.data.corpus import Clip, write_json_atomic
from avbench.data.features import FeatureExtractor, FeatureSettings

log = logging.getLogger(__name__)
_EXTRACTORS: dict[FeatureSettings, FeatureExtractor] = {}


@dataclass(frozen=True)
class Entry:
    """Where one clip's features are: packed shard slice and per-file npy keys."""

    id: str
    shard: str
    offset: int
    frames: int
    audio_s: float
    mel_key: str
    f0_key: str


@dataclass
class BuildReport:
    built: int = 0
    reused: int = 0
    corrupt: int = 0  # shards whose checksums failed (rebuilt, counted in built too)
    seconds: float = 0.0
    size_mb: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (clip id, reason)


def checksum(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sources_key(clips: list[Clip]) -> str:
    facts = [(c.id, c.size, c.mtime_ns) for c in clips]
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:16]


def _extract(settings: FeatureSettings, clip: Clip) -> Any:
    if settings not in _EXTRACTORS:
        import torch

        torch.set_num_threads(1)  # one process per core: no oversubscription
        _EXTRACTORS[settings] = FeatureExtractor(settings)
    return _EXTRACTORS[settings].from_file(clip.path)


def build_shard(root: Path, name: str, clips: list[Clip], settings: FeatureSettings) -> dict:
    """Extract, pack and write one shard (temp folder + rename, metadata last)."""
    from lhotse.features.io import NumpyFilesWriter

    from avbench.audio.io import AudioInputError

    final = root / "shards" / name
    tmp = root / "shards" / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    writer = NumpyFilesWriter(tmp / "npy")
    mels, f0s, entries, failed, offset = [], [], [], [], 0
    for clip in clips:
        try:
            feats = _extract(settings, clip)
        except AudioInputError as error:
            failed.append((clip.id, str(error).splitlines()[0]))
            continue
        entries.append(Entry(clip.id, name, offset, len(feats.mel), clip.duration_s,
                             writer.write(f"{clip.id}.mel", feats.mel),
                             writer.write(f"{clip.id}.f0", feats.f0_hz)))
        mels.append(feats.mel)
        f0s.append(feats.f0_hz)
        offset += len(feats.mel)
    np.save(tmp / "mel.npy", np.concatenate(mels) if mels else
            np.zeros((0, settings.n_mels), np.float32))
    np.save(tmp / "f0.npy", np.concatenate(f0s) if f0s else np.zeros(0, np.float32))
    files = {str(p.relative_to(tmp)): checksum(p) for p in sorted(tmp.rglob("*.npy"))}
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    meta = {"sources": _sources_key(clips), "entries": [asdict(e) for e in entries],
            "failed": failed, "files": files}
    write_json_atomic(root / "shards" / f"{name}.json", meta)
    return meta


def _build_shard_job(args: tuple[Path, str, list[Clip], FeatureSettings]) -> dict:
    return build_shard(*args)


def shard_plan(clips: list[Clip], shard_clips: int) -> dict[str, list[Clip]]:
    ordered = sorted(clips, key=lambda c: c.id)
    return {f"shard-{i // shard_clips:05d}": ordered[i:i + shard_clips]
            for i in range(0, len(ordered), shard_clips)}


class FeatureCache:
    """One cache folder per feature-settings key."""

    def __init__(self, cache_dir: Path, settings: FeatureSettings) -> None:
        self.settings = settings
        self.root = cache_dir / f"features-{settings.key()}"

    def _valid_meta(self, name: str, clips: list[Clip]) -> tuple[dict | None, bool]:
        """(metadata, corrupt): metadata when the shard is complete and verifies."""
        meta_path = self.root / "shards" / f"{name}.json"
        if not meta_path.exists():
            return None, False
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None, True
        if meta.get("sources") != _sources_key(clips):
            return None, False
        shard = self.root / "shards" / name
        for rel, expected in meta["files"].items():
            if not (shard / rel).exists() or checksum(shard / rel) != expected:
                log.warning("cache shard %s: %s fails its checksum; rebuilding", name, rel)
                return None, True
        return meta, False

    def build(self, clips: list[Clip], shard_clips: int, workers: int) -> BuildReport:
        """Build what is missing or corrupt (``workers`` > 1: a process pool); index last."""
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        report = BuildReport()
        with FileLock(str(self.root / ".lock")):
            for stale in (self.root / "shards").glob(".tmp-*"):
                shutil.rmtree(stale, ignore_errors=True)
            plan = shard_plan(clips, max(1, shard_clips))
            metas: dict[str, dict] = {}
            todo = []
            for name, shard_clips_ in plan.items():
                meta, corrupt = self._valid_meta(name, shard_clips_)
                report.corrupt += int(corrupt)
                if meta is None:
                    todo.append((self.root, name, shard_clips_, self.settings))
                else:
                    metas[name] = meta
            report.reused, report.built = len(metas), len(todo)
            metas |= self._run(todo, workers)
            index = {"settings": asdict(self.settings), "key": self.settings.key(),
                     "shards": {n: checksum(self.root / "shards" / f"{n}.json")
                                for n in sorted(metas)}}
            write_json_atomic(self.root / "index.json", index)
        report.failed = [tuple(f) for m in metas.values() for f in m["failed"]]
        report.seconds = time.perf_counter() - start
        report.size_mb = sum(p.stat().st_size for p in self.root.rglob("*")
                             if p.is_file()) / 2**20
        return report

    @staticmethod
    def _run(todo: list[tuple], workers: int) -> dict[str, dict]:
        if workers <= 1 or len(todo) <= 1:
            return {args[1]: build_shard(*args) for args in todo}
        import multiprocessing as mp

        # forkserver: workers fork from a clean server that imported torch once (a fork of a
        # process with live OpenMP threads can deadlock; spawn re-imports torch per worker)
        context = mp.get_context("forkserver")
        context.set_forkserver_preload(["avbench.data.cache"])
        with ProcessPoolExecutor(min(workers, len(todo)), context) as pool:
            return {args[1]: meta for args, meta in zip(todo, pool.map(_build_shard_job, todo), strict=True)}

    def entries(self) -> list[Entry]:
        """Every cached clip, from the index (which must exist: call ``build`` first)."""
        index_path = self.root / "index.json"
        if not index_path.exists():
            raise FileNotFoundError(f"no feature cache index at {index_path}; build it first")
        index = json.loads(index_path.read_text())
        out = []
        for name in index["shards"]:
            meta = json.loads((self.root / "shards" / f"{name}.json").read_text())
            out.extend(Entry(**e) for e in meta["entries"])
        return out

    def shard_path(self, shard: str, feature: str) -> Path:
        return self.root / "shards" / shard / f"{feature}.npy"

    def npy_root(self, shard: str) -> Path:
        return self.root / "shards" / shard / "npy"
