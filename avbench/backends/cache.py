"""A verified on-disk cache for exported graphs, engines and reference outputs.

An entry lives in ``<root>/<kind>/<name>-<key>/``: the artifact file and a
``manifest.json`` written after it, holding the artifact's SHA-256 and size
and the fields the key was made from. The key is the SHA-256 of those
fields (model content hash, component, shape profile, precision, library
versions, device), so any change gives a new entry.

Writes are atomic (a temporary file in the same directory, then
``os.replace``) and the manifest is written last, so a reader sees a
complete entry or none. A truncated or altered artifact no longer matches
its manifest: it is reported, deleted and rebuilt, never loaded. A file lock
per entry makes two processes that build the same entry at once build it
once: the second waits, then finds the first's entry.

A folder entry (``ArtifactCache.folder``) holds what another library writes
itself (ONNX Runtime's TensorRT provider writes its engines there): once
filled it is sealed with a manifest of every file's SHA-256 and size, and a
folder whose sealed files no longer match, or that was never sealed, is emptied
and filled again before anything in it is used. An ``additive`` folder may gain
files after it was sealed (the TensorRT provider adds an engine for a shape it
had not built): they are sealed in at its next use, and only a sealed file that
changed or went missing empties it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
LOCK_TIMEOUT_S = 3600.0  # an engine build can take minutes; a stuck lock still ends


def key_digest(fields: Mapping[str, Any]) -> str:
    """Stable SHA-256 of the key fields (sorted JSON)."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheResult:
    path: Path
    hit: bool
    build_s: float  # time spent building (0 on a hit)
    rebuilt_corrupt: bool = False


class _Entry:
    """Key, folder, manifest and lock of one cache entry."""

    def __init__(self, root: Path, kind: str, name: str, fields: Mapping[str, Any]) -> None:
        self.fields = dict(fields)
        self.key = key_digest(self.fields)
        self.dir = Path(root) / kind / f"{name}-{self.key[:16]}"
        self.manifest = self.dir / MANIFEST
        self.lock_path = self.dir.parent / f".{self.dir.name}.lock"

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def _meta(self) -> dict[str, Any]:
        return {"key": self.key, "fields": self.fields, "created": time.time()}

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Held while the entry is checked and built: one builder at a time, across processes."""
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.lock_path))
        try:
            lock.acquire(timeout=1.0)
        except Timeout:
            log.info("another process is building %s; waiting for it", self.dir.name)
            lock.acquire(timeout=LOCK_TIMEOUT_S)
        try:
            yield
        finally:
            lock.release()


class CacheEntry(_Entry):
    """One artifact, addressed by kind, a readable name and the key fields."""

    def __init__(self, root: Path, kind: str, name: str, fields: Mapping[str, Any],
                 filename: str) -> None:
        super().__init__(root, kind, name, fields)
        self.path = self.dir / filename

    def valid(self) -> bool:
        """True when the artifact matches its manifest (hash and size)."""
        try:
            meta = json.loads(self.manifest.read_text())
            return bool(meta["key"] == self.key and self.path.stat().st_size == meta["size"]
                        and file_digest(self.path) == meta["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def get_or_build(self, build: Callable[[Path], None]) -> CacheResult:
        """The artifact's path, building it with ``build(tmp_path)`` when absent or corrupt."""
        if self.valid():
            return CacheResult(self.path, hit=True, build_s=0.0)
        with self._locked():
            if self.valid():  # built by another process while we waited
                return CacheResult(self.path, hit=True, build_s=0.0)
            # Under the lock nobody else is writing here: what exists is left over and bad.
            corrupt = self.dir.exists()
            if corrupt:
                log.warning("cache entry %s is corrupt or incomplete; rebuilding it", self.dir)
            start = time.perf_counter()
            self._build(build)
            return CacheResult(self.path, hit=False, build_s=time.perf_counter() - start,
                               rebuilt_corrupt=corrupt)

    def _build(self, build: Callable[[Path], None]) -> None:
        self.remove()
        self.dir.mkdir(parents=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.dir)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            build(tmp)
            if not tmp.exists() or tmp.stat().st_size == 0:
                raise RuntimeError(f"building {self.path.name} produced no output")
            meta = self._meta() | {"sha256": file_digest(tmp), "size": tmp.stat().st_size}
            os.replace(tmp, self.path)
            _atomic_write_text(self.manifest, json.dumps(meta, indent=1, sort_keys=True,
                                                         default=str))
        except BaseException:
            tmp.unlink(missing_ok=True)
            self.remove()
            raise


class FolderEntry(_Entry):
    """A folder of files another library writes, sealed by a manifest once written."""

    def __init__(self, root: Path, kind: str, name: str, fields: Mapping[str, Any],
                 additive: bool = False) -> None:
        super().__init__(root, kind, name, fields)
        self.additive = additive

    def files(self) -> dict[str, dict[str, Any]]:
        """Every file under the folder but the manifest: relative path -> SHA-256 and size."""
        return {str(path.relative_to(self.dir)): {"sha256": file_digest(path),
                                                  "size": path.stat().st_size}
                for path in sorted(self.dir.rglob("*"))
                if path.is_file() and path != self.manifest}

    def valid(self) -> bool:
        """True when the folder is sealed and every sealed file matches the seal; files
        added since count against it unless the folder is ``additive``."""
        try:
            meta = json.loads(self.manifest.read_text())
            sealed, files = meta["files"], self.files()
            if self.additive:
                files = {path: files.get(path) for path in sealed}
            return bool(meta["key"] == self.key and sealed and sealed == files)
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def _seal(self, files: dict[str, dict[str, Any]]) -> None:
        _atomic_write_text(self.manifest, json.dumps(
            self._meta() | {"files": files}, indent=1, sort_keys=True, default=str))

    @contextmanager
    def fill(self) -> Iterator[bool]:
        """Under the entry's lock, yield whether the folder is sealed and intact.

        True: use what is there. False: the folder is now empty; the body fills it and,
        when it returns, the folder is sealed. A body that raises, or writes nothing,
        leaves no folder behind (the next fill starts empty again).
        """
        with self._locked():
            if self.valid():
                files = self.files()
                if self.additive and json.loads(self.manifest.read_text())["files"] != files:
                    log.info("sealing the files added to %s since its last use", self.dir)
                    self._seal(files)
                yield True
                return
            if self.dir.exists():
                log.warning("cache folder %s is altered or was never sealed; emptying it",
                            self.dir)
            self.remove()
            self.dir.mkdir(parents=True)
            try:
                yield False
            except BaseException:
                self.remove()
                raise
            files = self.files()
            if not files:  # e.g. the library took no part of the graph: nothing to keep
                log.info("nothing was written to %s; nothing is cached", self.dir)
                self.remove()
                return
            self._seal(files)


class ArtifactCache:
    """The cache under one root directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def entry(self, kind: str, name: str, fields: Mapping[str, Any],
              filename: str) -> CacheEntry:
        return CacheEntry(self.root, kind, name, fields, filename)

    def folder(self, kind: str, name: str, fields: Mapping[str, Any],
               additive: bool = False) -> FolderEntry:
        return FolderEntry(self.root, kind, name, fields, additive)


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
