"""The feature cache: built once by two concurrent builders, resumed after a kill, a corrupt
shard detected and rebuilt, a changed source rebuilt; real spawned processes throughout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from avbench.data.cache import FeatureCache
from avbench.data.corpus import Corpus
from tests.data.conftest import SETTINGS

# Builds the cache of the tiny corpus in a process of its own; prints its BuildReport.
BUILDER = """
import json, sys
from dataclasses import asdict
from pathlib import Path
from avbench.data.cache import FeatureCache
from avbench.data.corpus import Clip
from tests.data.conftest import SETTINGS
clips = [Clip(**c) for c in json.loads(Path(sys.argv[1]).read_text())["clips"]]
report = FeatureCache(Path(sys.argv[2]), SETTINGS).build(clips, int(sys.argv[3]), int(sys.argv[4]))
print(json.dumps(asdict(report)))
"""
REPO = Path(__file__).resolve().parents[2]


def _builder(corpus: Corpus, cache_dir: Path, shard_clips: int,
             workers: int) -> subprocess.Popen[str]:
    env = os.environ | {"PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", BUILDER, str(corpus.root / "manifest.json"),
                             str(cache_dir), str(shard_clips), str(workers)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _report(process: subprocess.Popen[str]) -> dict:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
def test_two_concurrent_builders_build_once(tiny_corpus: Corpus, tmp_path: Path) -> None:
    first = _builder(tiny_corpus, tmp_path, 2, 2)  # a process pool inside the first builder
    second = _builder(tiny_corpus, tmp_path, 2, 1)
    reports = [_report(first), _report(second)]
    shards = 4  # 7 clips, 2 per shard
    assert sorted(r["built"] for r in reports) == [0, shards]
    assert sorted(r["reused"] for r in reports) == [0, shards]
    cache = FeatureCache(tmp_path, SETTINGS)
    assert sorted(e.id for e in cache.entries()) == sorted(c.id for c in tiny_corpus.clips)
    assert not list((cache.root / "shards").glob(".tmp-*"))


@pytest.mark.slow
def test_killed_build_resumes(tiny_corpus: Corpus, tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, SETTINGS)
    process = _builder(tiny_corpus, tmp_path, 1, 1)  # serial, one clip per shard: 7 shards
    first_meta = cache.root / "shards" / "shard-00000.json"
    deadline = time.monotonic() + 300
    while not first_meta.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.kill()
    process.communicate()
    assert first_meta.exists()
    assert not (cache.root / "index.json").exists()  # killed before the end
    report = cache.build(tiny_corpus.clips, 1, 1)
    assert report.reused >= 1 and report.built >= 1
    assert report.reused + report.built == len(tiny_corpus.clips)
    assert len(cache.entries()) == len(tiny_corpus.clips)
    assert not list((cache.root / "shards").glob(".tmp-*"))


def _flip_tail(path: Path) -> None:
    """Invert the last 16 bytes (inside the array data): same size, other content."""
    with open(path, "r+b") as handle:
        handle.seek(-16, os.SEEK_END)
        tail = handle.read(16)
        handle.seek(-16, os.SEEK_END)
        handle.write(bytes(b ^ 0xFF for b in tail))


@pytest.mark.parametrize("damaged", ["packed", "per-clip"])
def test_corrupt_shard_is_detected_and_rebuilt(tiny_corpus: Corpus, tmp_path: Path,
                                               damaged: str) -> None:
    """A damaged packed array (shard-*/mel.npy) or per-clip file (shard-*/npy/...) fails
    its checksum: that shard alone is rebuilt."""
    cache = FeatureCache(tmp_path, SETTINGS)
    cache.build(tiny_corpus.clips, 3, 1)
    if damaged == "packed":
        path = cache.shard_path("shard-00001", "mel")
    else:
        path = sorted(cache.npy_root("shard-00001").rglob("*.npy"))[0]
    good = np.load(path)
    _flip_tail(path)
    assert np.load(path).tobytes() != good.tobytes()
    report = cache.build(tiny_corpus.clips, 3, 1)
    assert (report.corrupt, report.built, report.reused) == (1, 1, 2)
    assert np.array_equal(np.load(path), good)


def test_changed_source_or_settings_is_a_new_entry(tiny_corpus: Corpus, tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, SETTINGS)
    cache.build(tiny_corpus.clips, 3, 1)
    touched = [c if i else type(c)(c.id, c.path, c.duration_s, c.size, c.mtime_ns + 1)
               for i, c in enumerate(sorted(tiny_corpus.clips, key=lambda c: c.id))]
    report = cache.build(touched, 3, 1)
    assert (report.built, report.reused) == (1, 2)  # only the shard of the changed clip
    other = FeatureCache(tmp_path, type(SETTINGS)(**{**SETTINGS.__dict__, "n_mels": 32}))
    assert other.root != cache.root
