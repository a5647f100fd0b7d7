"""Deterministic synthetic singing test songs with exact frame-level F0 labels.

A song is a harmonic "voice" (a phase-accumulated sum of up to 30 harmonics shaped by
gliding vowel formants, with vibrato, aspiration and breaths between phrases) over an
accompaniment of sustained chords, kick and hi-hat, the voice 6-10 dB louder (RMS).

Labels: frame ``i`` is centred at sample ``i * hop_length`` (librosa ``center=True``), so a
song of ``n`` samples has ``1 + n // hop_length`` frames. ``f0_hz[i]`` is exactly the
instantaneous F0 the voice was rendered with at that sample (its per-sample phase
increment), cast to float32, and 0 where unvoiced. ``voiced[i]`` is True where the voice is at
full phrase level: frames centred inside the 10 ms fade-in/fade-out of a phrase
(:data:`avbench.audio.score.EDGE_RAMP_S`) are labelled unvoiced.

The same arguments give bit-identical arrays (on one machine and numpy version); the audio
does not depend on ``hop_length``, only the labels do.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from avbench.audio.render import VOICE_HARMONICS, render_accompaniment, render_voice
from avbench.audio.score import EDGE_RAMP_S, compose
from avbench.audio.voices import VoiceProfileError, load_voice_profile, write_voice_profiles

__all__ = [
    "FORMAT_VERSION",
    "TestSong",
    "VoiceProfileError",
    "generate_song",
    "load_or_generate",
    "load_voice_profile",
    "write_voice_profiles",
]

# Bump when the generator or the cache layout changes: it is part of every cache key.
FORMAT_VERSION = 1
_STEMS = ("mix", "vocals", "accompaniment")


@dataclass
class TestSong:
    """One synthetic song and its labels.

    Attributes:
        mix: ``(samples,)`` float32, exactly ``vocals + accompaniment`` (float32 sum).
        vocals: ``(samples,)`` float32 clean voice stem.
        accompaniment: ``(samples,)`` float32 chords + drums stem.
        sample_rate: Hz.
        hop_length: samples between label frames.
        f0_hz: ``(frames,)`` float32 voice F0 in Hz, 0 where unvoiced.
        voiced: ``(frames,)`` bool.
        params: JSON-serialisable generation parameters and song facts.
    """

    __test__ = False  # not a pytest test class, despite the name

    mix: np.ndarray
    vocals: np.ndarray
    accompaniment: np.ndarray
    sample_rate: int
    hop_length: int
    f0_hz: np.ndarray
    voiced: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """Length of the audio in seconds."""
        return len(self.mix) / self.sample_rate


def _frame_labels(score: Any, f0_samples: np.ndarray, n: int, sample_rate: int,
                  hop_length: int) -> tuple[np.ndarray, np.ndarray]:
    """F0 (Hz, 0 where unvoiced) and voicing at each label frame's centre sample."""
    centres = np.arange(1 + n // hop_length) * hop_length
    inside = centres < n  # the last centre may sit one sample past the end (voice is off)
    voiced = np.zeros(len(centres), dtype=np.bool_)
    voiced[inside] = score.voiced(centres[inside] / sample_rate)
    f0_label = np.zeros(len(centres), dtype=np.float32)
    f0_label[voiced] = f0_samples[centres[voiced]].astype(np.float32)
    return f0_label, voiced


def generate_song(
    duration_s: float, sample_rate: int = 22050, seed: int = 0, hop_length: int = 256
) -> TestSong:
    """Render a synthetic song of ``duration_s`` seconds with exact F0 labels.

    Args:
        duration_s: length in seconds (> 0); the song has ``round(duration_s * sample_rate)``
            samples.
        sample_rate: Hz, any (harmonics are kept below 0.45 * sample_rate).
        seed: seeds everything; same arguments -> bit-identical output.
        hop_length: label frame hop in samples.

    Returns:
        A :class:`TestSong`; labels have ``1 + samples // hop_length`` frames.
    """
    if duration_s <= 0 or sample_rate <= 0 or hop_length <= 0:
        raise ValueError(
            f"need duration_s > 0, sample_rate > 0, hop_length > 0; got "
            f"{duration_s}, {sample_rate}, {hop_length}"
        )
    n = max(1, round(duration_s * sample_rate))
    rng = np.random.default_rng(seed)
    score = compose(n / sample_rate, rng)
    f0_samples = score.f0_hz(np.arange(n) / sample_rate)
    vocals = render_voice(score, f0_samples, sample_rate, rng)
    accompaniment = render_accompaniment(score, n, sample_rate, rng)
    vocal_db = float(rng.uniform(6.0, 10.0))
    acc_rms = max(float(np.sqrt(np.mean(accompaniment**2))), 1e-12)
    accompaniment *= float(np.sqrt(np.mean(vocals**2))) / acc_rms / 10 ** (vocal_db / 20)
    gain = 0.8 / max(float(np.max(np.abs(vocals + accompaniment))), 1e-12)
    vocals32 = (gain * vocals).astype(np.float32)
    accompaniment32 = (gain * accompaniment).astype(np.float32)

    f0_label, voiced = _frame_labels(score, f0_samples, n, sample_rate, hop_length)
    params = {
        "format_version": FORMAT_VERSION,
        "duration_s": float(duration_s),
        "sample_rate": int(sample_rate),
        "seed": int(seed),
        "hop_length": int(hop_length),
        "n_samples": int(n),
        "tempo_bpm": score.tempo_bpm,
        "key": score.key,
        "vocal_to_accompaniment_db": vocal_db,
        "n_phrases": int(np.sum(score.phrase_end_s > score.phrase_start_s)),
        "n_notes": len(score.note_start_s),
        "voice_harmonics": VOICE_HARMONICS,
        "edge_unvoiced_s": EDGE_RAMP_S,
    }
    return TestSong(
        vocals32 + accompaniment32,
        vocals32,
        accompaniment32,
        int(sample_rate),
        int(hop_length),
        f0_label,
        voiced,
        params,
    )


def _cache_key(duration_s: float, sample_rate: int, seed: int, hop_length: int) -> str:
    return (
        f"song-v{FORMAT_VERSION}-{float(duration_s)!r}s-{int(sample_rate)}hz-seed{int(seed)}"
        f"-hop{int(hop_length)}"
    )


def _write_entry(directory: Path, song: TestSong) -> None:
    for stem in _STEMS:
        sf.write(
            directory / f"{stem}.wav",
            getattr(song, stem),
            song.sample_rate,
            subtype="FLOAT",
            format="WAV",
        )
    metadata = {
        "format": "avbench-test-song",
        "format_version": FORMAT_VERSION,
        "params": song.params,
        "f0_hz": [float(v) for v in song.f0_hz],
        "voiced": [bool(v) for v in song.voiced],
    }
    (directory / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")


def _read_entry(directory: Path, expected: dict) -> TestSong | None:
    """The cached song in ``directory``, or None when it is missing, partial or stale."""
    try:
        metadata = json.loads((directory / "metadata.json").read_text(encoding="utf-8"))
        params = metadata["params"]
        if metadata.get("format_version") != FORMAT_VERSION or any(
            params.get(k) != v for k, v in expected.items()
        ):
            return None
        stems = {}
        for stem in _STEMS:
            audio, sample_rate = sf.read(directory / f"{stem}.wav", dtype="float32")
            if sample_rate != expected["sample_rate"] or audio.shape != (params["n_samples"],):
                return None
            stems[stem] = audio
        f0_hz = np.asarray(metadata["f0_hz"], dtype=np.float32)
        voiced = np.asarray(metadata["voiced"], dtype=np.bool_)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError):
        return None  # soundfile raises RuntimeError subclasses on truncated/garbled files
    frames = 1 + params["n_samples"] // expected["hop_length"]
    if f0_hz.shape != (frames,) or voiced.shape != (frames,):
        return None
    return TestSong(
        stems["mix"],
        stems["vocals"],
        stems["accompaniment"],
        expected["sample_rate"],
        expected["hop_length"],
        f0_hz,
        voiced,
        params,
    )


def _discard(directory: Path) -> None:
    """Remove a bad entry: rename it away first so no reader sees it half-deleted."""
    trash = directory.with_name(f".{directory.name}.trash-{os.getpid()}-{id(directory)}")
    try:
        os.rename(directory, trash)
    except OSError:
        return  # already gone (another process discarded it)
    shutil.rmtree(trash, ignore_errors=True)


def load_or_generate(
    cache_dir: str | Path,
    duration_s: float,
    sample_rate: int = 22050,
    seed: int = 0,
    hop_length: int = 256,
) -> TestSong:
    """:func:`generate_song`, cached on disk under ``cache_dir/<key>/``.

    An entry holds ``mix.wav``, ``vocals.wav``, ``accompaniment.wav`` (32-bit float WAV, so
    reads are bit-identical to the generated arrays) and ``metadata.json`` (labels, all
    parameters, format version). The key spells out every parameter and
    :data:`FORMAT_VERSION`. Entries are built in a temp dir inside ``cache_dir`` and renamed
    into place; if another process installs the same entry first, its copy is used. A
    missing, partial or unreadable entry is discarded and regenerated.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    entry = cache_dir / _cache_key(duration_s, sample_rate, seed, hop_length)
    expected = {
        "format_version": FORMAT_VERSION,
        "duration_s": float(duration_s),
        "sample_rate": int(sample_rate),
        "seed": int(seed),
        "hop_length": int(hop_length),
    }
    cached = _read_entry(entry, expected)
    if cached is not None:
        return cached
    if entry.exists():
        _discard(entry)
    song = generate_song(duration_s, sample_rate, seed, hop_length)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.tmp-", dir=cache_dir))
    try:
        _write_entry(staging, song)
        os.rename(staging, entry)
    except OSError:
        # Lost the race: another process installed the entry between our check and rename.
        shutil.rmtree(staging, ignore_errors=True)
        theirs = _read_entry(entry, expected)
        if theirs is not None:
            return theirs
        raise
    return song
