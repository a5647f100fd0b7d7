"""Real audio input and output: load, validate, downmix, resample; write atomically.

Reading goes through soundfile (libsndfile: WAV, FLAC, OGG/Vorbis, and whatever else the
installed libsndfile decodes). Resampling uses ``torchaudio.functional.resample`` with a
Kaiser-windowed sinc of width 16 (torchaudio's "kaiser_best" setting): a declared dependency,
band-limited, deterministic, and fast for the integer ratios common in audio (44.1k/48k ->
16k/22.05k/24k).
"""

from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from avbench.errors import UserError

_HINT = "set audio.path to an existing WAV/FLAC/OGG file"


class AudioInputError(UserError, ValueError):
    """An input audio file cannot be used; the message says which file and what to do."""


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling of ``(..., samples)`` float audio; returns float32.

    Output length is ``ceil(samples * target_sr / orig_sr)``. A no-op (copy-free) when the
    rates match.
    """
    if orig_sr == target_sr:
        return np.asarray(audio, dtype=np.float32)
    import torch  # lazy: importing torch is slow and loading at the native rate needs none
    import torchaudio.functional as taf

    waveform = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    out = taf.resample(
        waveform,
        int(orig_sr),
        int(target_sr),
        lowpass_filter_width=16,
        rolloff=0.945,
        resampling_method="sinc_interp_kaiser",
        beta=14.769656459379492,
    )
    return out.numpy()


def load_audio(path: str | Path, target_sr: int) -> np.ndarray:
    """Load an audio file as mono float32 at ``target_sr``.

    Args:
        path: WAV/FLAC/OGG (anything libsndfile reads).
        target_sr: output sample rate in Hz.

    Returns:
        ``(samples,)`` float32; multi-channel audio is averaged to mono, then resampled.

    Raises:
        AudioInputError: the path is missing or a directory, the file is unreadable,
            corrupt or in an unsupported format, holds no samples, or holds NaN/Inf.
    """
    if target_sr <= 0:
        raise ValueError(f"target_sr must be a positive sample rate in Hz, got {target_sr}")
    path = Path(path)
    if path.is_dir():
        raise AudioInputError(f"expected an audio file but got a directory: {path} ({_HINT})")
    if not path.exists():
        raise AudioInputError(f"audio file not found: {path} ({_HINT})")
    _check_fits_in_memory(path)
    try:
        data, sample_rate = sf.read(path, dtype="float32", always_2d=True)
    except sf.SoundFileError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioInputError(
            f"cannot decode audio file {path}: {reason} (re-export it as WAV/FLAC/OGG, e.g. "
            f"`ffmpeg -i {shlex.quote(str(path))} out.wav`)"
        ) from exc
    except (OSError, TypeError, ValueError) as exc:
        raise AudioInputError(f"cannot read audio file {path}: {exc} ({_HINT})") from exc
    if data.shape[0] == 0:
        raise AudioInputError(f"audio file has no samples: {path} ({_HINT} with some audio)")
    if not np.isfinite(data).all():
        raise AudioInputError(
            f"audio file contains NaN or Inf samples: {path} (re-export it as 16/24-bit PCM "
            "or clean the float data)"
        )
    mono = data.mean(axis=1, dtype=np.float64).astype(np.float32)
    return resample(mono, sample_rate, target_sr)


def check_audio_file(path: str | Path, target_sr: int, min_s: float) -> None:
    """Check from the header alone that ``path`` is readable, at least ``min_s`` long and
    small enough to load.

    Raises:
        AudioInputError: missing, undecodable, too short, or larger than available memory.
    """
    info = _info(Path(path))
    if info.frames == 0:
        raise AudioInputError(f"audio file has no samples: {path} ({_HINT} with some audio)")
    if info.frames < min_s * info.samplerate:
        raise AudioInputError(
            f"audio file is too short: {path} holds {info.frames} samples "
            f"({info.frames / info.samplerate:.3g} s); use at least {min_s:g} s of audio")
    _check_fits_in_memory(Path(path), info)


def _info(path: Path) -> Any:
    if path.is_dir():
        raise AudioInputError(f"expected an audio file but got a directory: {path} ({_HINT})")
    if not path.exists():
        raise AudioInputError(f"audio file not found: {path} ({_HINT})")
    try:
        return sf.info(str(path))
    except (sf.SoundFileError, RuntimeError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioInputError(
            f"cannot decode audio file {path}: {reason} (re-export it as WAV/FLAC/OGG, e.g. "
            f"`ffmpeg -i {shlex.quote(str(path))} out.wav`)") from exc


def _check_fits_in_memory(path: Path, info: Any = None) -> None:
    """Refuse a file whose header claims more samples than memory holds, before reading
    it (a corrupt or hostile header must not end in a MemoryError mid-read)."""
    import psutil

    info = info or _info(path)
    # float32 read + float64 downmix + float32 mono copy, per frame
    needed = info.frames * (4 * info.channels + 8 + 4)
    available = psutil.virtual_memory().available
    if needed > available:
        raise AudioInputError(
            f"audio file {path} claims {info.frames:,} samples x {info.channels} channels "
            f"({needed / 2**30:,.1f} GiB to load), more than the {available / 2**30:,.1f} GiB "
            "of memory available: its header is corrupt or the file is too long; use a "
            "shorter excerpt")


def write_audio(path: str | Path, audio: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit PCM WAV atomically (temp file in the same directory + ``os.replace``).

    Args:
        path: destination; parent directories are created.
        audio: ``(samples,)`` mono or ``(samples, channels)`` float audio in [-1, 1]; values
            outside are clipped.
        sample_rate: Hz.

    Raises:
        ValueError: the audio holds NaN/Inf or has more than two dimensions.
    """
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim not in (1, 2):
        raise ValueError(f"audio must be (samples,) or (samples, channels), got {data.shape}")
    if not np.isfinite(data).all():
        raise ValueError(f"refusing to write NaN/Inf samples to {path}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        sf.write(tmp, np.clip(data, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
