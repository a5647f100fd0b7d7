"""Synthetic target-voice profiles: JSON files holding an L2-normalised speaker embedding.

A profile stands in for a real enrolment embedding where a pipeline needs a target speaker.
File format (``"format": "avbench-voice-profile/1"``)::

    {"name": str, "embedding": [256 floats, unit L2 norm], "seed": int, "index": int,
     "format": "avbench-voice-profile/1"}
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from avbench.errors import UserError

PROFILE_FORMAT = "avbench-voice-profile/1"
EMBEDDING_DIM = 256


class VoiceProfileError(UserError, ValueError):
    """A voice profile file is missing or malformed (one-line, user-facing message)."""


def _write_json_atomic(path: Path, payload: dict) -> None:
    """Write JSON to a temp file in the same directory, then rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_voice_profiles(directory: str | Path, count: int = 2, seed: int = 0) -> list[Path]:
    """Write ``count`` deterministic voice profiles ``voice-s<seed>-<i>.json`` into ``directory``.

    Embeddings are i.i.d. Gaussian draws (generator seeded with ``[seed, i]``) scaled to unit
    L2 norm, so different profiles are nearly orthogonal (cosine similarity ~ +-0.06).

    Returns:
        The written paths, in index order.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        embedding = np.random.default_rng([seed, index]).standard_normal(EMBEDDING_DIM)
        embedding /= np.linalg.norm(embedding)
        path = directory / f"voice-s{seed}-{index}.json"
        _write_json_atomic(
            path,
            {
                "name": f"synthetic-voice-s{seed}-{index}",
                "embedding": [float(v) for v in embedding.astype(np.float32)],
                "seed": seed,
                "index": index,
                "format": PROFILE_FORMAT,
            },
        )
        paths.append(path)
    return paths


def load_voice_profile(path: str | Path) -> np.ndarray:
    """Read a profile's embedding as float32 ``(256,)``.

    Raises:
        VoiceProfileError: missing file, a directory, invalid JSON, an unknown ``format``,
            or an embedding that is not 256 finite numbers.
    """
    path = Path(path)
    hint = "(regenerate it with avbench.audio.synth.write_voice_profiles or fix the path)"
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "not found"
        raise VoiceProfileError(f"voice profile {what}: {path} {hint}")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VoiceProfileError(
            f"voice profile is not readable JSON: {path} ({exc}) {hint}"
        ) from exc
    if not isinstance(payload, dict):
        raise VoiceProfileError(f"voice profile must be a JSON object: {path} {hint}")
    if payload.get("format", PROFILE_FORMAT) != PROFILE_FORMAT:
        raise VoiceProfileError(
            f"voice profile {path} has format {payload.get('format')!r}, expected "
            f"{PROFILE_FORMAT!r} {hint}"
        )
    values = payload.get("embedding")
    if (
        not isinstance(values, list)
        or len(values) != EMBEDDING_DIM
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        or not all(math.isfinite(v) for v in values)
    ):
        if values is None:
            found = "no 'embedding' key"
        elif not isinstance(values, list):
            found = f"a JSON {type(values).__name__}"
        elif len(values) != EMBEDDING_DIM:
            found = f"{len(values)} values"
        else:
            found = "non-numeric or NaN/Inf values"
        raise VoiceProfileError(
            f"voice profile {path} needs 'embedding' as {EMBEDDING_DIM} finite numbers, got "
            f"{found} {hint}"
        )
    return np.asarray(values, dtype=np.float32)
