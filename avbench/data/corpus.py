"""The corpus a training run reads: generated synthetic songs, or a user's audio folder.

A generated corpus is cached under ``<cache>/data/corpus-<key>`` (every WAV written
atomically, the manifest last), so a second run reuses it. A folder is scanned for
WAV/FLAC/OGG; files libsndfile cannot open, or that hold no samples, are reported and
skipped (counted), never a crash. ``to_cuts`` turns the clips into a lhotse CutSet, which
the samplers and loaders see.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avbench.errors import first_line
from avbench.runtime import ConfigError

log = logging.getLogger(__name__)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
CORPUS_VERSION = 1


@dataclass(frozen=True)
class Clip:
    """One source file; ``size``/``mtime_ns`` are part of its cached features' key."""

    id: str
    path: str
    duration_s: float
    size: int
    mtime_ns: int


@dataclass
class Corpus:
    clips: list[Clip]
    root: Path
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    @property
    def audio_s(self) -> float:
        return sum(c.duration_s for c in self.clips)


def _clip(path: Path, clip_id: str, duration_s: float) -> Clip:
    stat = path.stat()
    return Clip(clip_id, str(path), float(duration_s), stat.st_size, stat.st_mtime_ns)


def clip_lengths(n: int, min_s: float, max_s: float, seed: int) -> list[float]:
    """``n`` clip lengths uniform in ``[min_s, max_s]``, rounded to 10 ms, seeded."""
    if n <= 0 or not 0 < min_s <= max_s:
        raise ConfigError(f"data.clips must be > 0 and 0 < data.min_s <= data.max_s; got "
                          f"{n}, {min_s}, {max_s}")
    rng = np.random.default_rng(seed)
    return [round(float(x), 2) for x in rng.uniform(min_s, max_s, n)]


def generate_corpus(cache_dir: Path, n: int, min_s: float, max_s: float, sample_rate: int,
                    seed: int) -> Corpus:
    """N synthetic songs of varied lengths at ``sample_rate``, cached (atomic writes)."""
    from avbench.audio.io import write_audio
    from avbench.audio.synth import FORMAT_VERSION, generate_song

    lengths = clip_lengths(n, min_s, max_s, seed)
    key = f"v{CORPUS_VERSION}-song{FORMAT_VERSION}-{n}x{min_s:g}-{max_s:g}s-{sample_rate}hz-seed{seed}"
    root = cache_dir / f"corpus-{key}"
    manifest = root / "manifest.json"
    cached = read_manifest(manifest)
    if cached is not None and len(cached) == n and all(_unchanged(c) for c in cached):
        return Corpus(cached, root)
    if manifest.exists():
        log.warning("corpus %s changed on disk or its manifest is damaged; regenerating", root)
    clips = []
    for i, length in enumerate(lengths):
        path = root / f"clip-{i:05d}.wav"
        if not path.exists():
            song = generate_song(length, sample_rate, seed=seed * 100003 + i)
            write_audio(path, song.mix, sample_rate)
        clips.append(_clip(path, path.stem, length))
    write_json_atomic(manifest, {"clips": [asdict(c) for c in clips]})
    return Corpus(clips, root)


def read_manifest(manifest: Path) -> list[Clip] | None:
    """The clips a corpus manifest lists; None when it is missing or damaged (not JSON,
    not the layout written here), so that the corpus is rebuilt rather than a crash."""
    try:
        clips = json.loads(manifest.read_text())["clips"]
        return [Clip(**clip) for clip in clips]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("corpus manifest %s is damaged (%s: %s)", manifest, type(error).__name__,
                    first_line(error, 120))
        return None


def _unchanged(clip: Clip) -> bool:
    try:
        stat = os.stat(clip.path)
    except OSError:
        return False
    return stat.st_size == clip.size and stat.st_mtime_ns == clip.mtime_ns


def scan_folder(path: str | Path) -> Corpus:
    """Every readable WAV/FLAC/OGG under ``path``; unreadable ones reported and skipped."""
    import soundfile as sf

    root = Path(path).expanduser()
    if not root.is_dir():
        raise ConfigError(f"data.path={path} is not a folder; give a folder of WAV/FLAC/OGG "
                          "files or leave data.path unset for a generated corpus")
    clips: list[Clip] = []
    skipped: list[tuple[str, str]] = []
    for file in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        try:
            info = sf.info(str(file))
            if info.frames <= 0:
                raise ValueError("no samples")
        except Exception as error:  # any failure to open is a bad file, reported and skipped
            skipped.append((str(file), first_line(error) if str(error) else
                            type(error).__name__))
            continue
        clip_id = str(file.relative_to(root).with_suffix("")).replace(os.sep, "__")
        clips.append(_clip(file, clip_id, info.frames / info.samplerate))
    for file, reason in skipped:
        log.warning("skipped %s: %s", file, reason)
    if not clips:
        raise ConfigError(f"data.path={path} holds no readable WAV/FLAC/OGG file "
                          f"({len(skipped)} skipped)")
    return Corpus(clips, root, skipped)


def load_corpus(data_cfg: Any, cache_dir: Path) -> Corpus:
    if data_cfg.path:
        return scan_folder(data_cfg.path)
    return generate_corpus(cache_dir, int(data_cfg.clips), float(data_cfg.min_s),
                           float(data_cfg.max_s), int(data_cfg.source_sample_rate),
                           int(data_cfg.seed))


def to_cuts(corpus: Corpus) -> Any:
    """A lhotse CutSet with one full-length cut per clip (cut id = clip id)."""
    from lhotse import CutSet, Recording

    return CutSet.from_cuts(Recording.from_file(c.path, recording_id=c.id).to_cut()
                            for c in corpus.clips)


def write_json_atomic(path: Path, payload: dict) -> None:
    """Atomic JSON write: temp file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(payload, handle)
    os.replace(tmp, path)
