"""A user's folder with bad files: they are reported and skipped with a count, never a crash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avbench.data.cache import FeatureCache
from avbench.data.corpus import clip_lengths, generate_corpus, scan_folder, to_cuts
from avbench.runtime import ConfigError
from tests.data.conftest import SETTINGS


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    t = np.arange(8000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    sf.write(root / "a.wav", tone, 16000)
    sf.write(root / "sub" / "b.flac", np.stack([tone, tone], 1), 44100)  # stereo, other rate
    sf.write(root / "c.ogg", tone, 22050)
    (root / "not-audio.wav").write_text("this is not a RIFF file")
    (root / "empty.flac").write_bytes(b"")
    sf.write(root / "silent-header.wav", np.zeros(0, np.float32), 16000)  # no samples
    (root / "notes.txt").write_text("ignored: not an audio suffix")
    return root


def test_bad_files_are_reported_and_skipped(tmp_path: Path) -> None:
    corpus = scan_folder(_folder(tmp_path))
    assert sorted(c.id for c in corpus.clips) == ["a", "c", "sub__b"]
    assert sorted(Path(p).name for p, _ in corpus.skipped) == [
        "empty.flac", "not-audio.wav", "silent-header.wav"]
    assert all(reason for _, reason in corpus.skipped)
    cache = FeatureCache(tmp_path / "cache", SETTINGS)
    report = cache.build(corpus.clips, 2, 1)
    assert report.failed == []
    assert sorted(e.id for e in cache.entries()) == ["a", "c", "sub__b"]
    assert len(to_cuts(corpus)) == 3


def test_a_file_that_fails_to_decode_later_is_skipped_by_the_build(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    corpus = scan_folder(root)
    shutil.copy(root / "not-audio.wav", root / "a.wav")  # broken after the scan
    report = FeatureCache(tmp_path / "cache", SETTINGS).build(corpus.clips, 2, 1)
    assert [clip for clip, _ in report.failed] == ["a"]


def test_a_folder_with_nothing_readable_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_text("nope")
    with pytest.raises(ConfigError, match="no readable"):
        scan_folder(tmp_path)
    with pytest.raises(ConfigError, match="not a folder"):
        scan_folder(tmp_path / "missing")


def test_generated_corpus_is_cached_and_varied(tmp_path: Path) -> None:
    first = generate_corpus(tmp_path, 3, 0.2, 0.5, 16000, seed=1)
    again = generate_corpus(tmp_path, 3, 0.2, 0.5, 16000, seed=1)
    assert first.clips == again.clips
    assert len({c.duration_s for c in first.clips}) == 3
    assert clip_lengths(3, 0.2, 0.5, 1) == [c.duration_s for c in first.clips]
    assert sf.info(first.clips[0].path).samplerate == 16000


@pytest.mark.parametrize("damage", ["{", "{}", '{"clips": [{"id": 1}]}', '{"clips": 3}', ""])
def test_a_damaged_manifest_is_rebuilt(tmp_path: Path, damage: str) -> None:
    first = generate_corpus(tmp_path, 2, 0.2, 0.3, 16000, seed=2)
    manifest = first.root / "manifest.json"
    written = manifest.read_text()
    manifest.write_text(damage)
    again = generate_corpus(tmp_path, 2, 0.2, 0.3, 16000, seed=2)
    assert [c.id for c in again.clips] == [c.id for c in first.clips]
    assert json.loads(manifest.read_text()) == json.loads(written)
