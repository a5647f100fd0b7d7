"""Checks of config values at the start of a run: each problem is one line naming the fix.

The schema (avbench/config.py) checks types at compose time; these check the values a
type cannot: numbers that must be finite, lengths and counts that must be positive, the
work a run asks for against the ``limits`` node (raise a limit on the command line:
``limits.max_audio_s=7200``) and against available memory, an input file that is too
short or too long, cache folders that cannot be written. A failure raises ConfigError (or
AudioInputError / TextInputError for an input file), which the CLI prints as one line.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig

from avbench.runtime import ConfigError, resolve_cache_dir

MIN_AUDIO_S = 0.1  # shorter inputs are not worth timing (and break framed DSP: STFT padding)
# Generating a synthetic song holds ~230 bytes per sample at its peak (a 30 s song at
# 22.05 kHz: 145 MB above the process's start); the pipeline's own buffers come on top.
SONG_BYTES_PER_SAMPLE = 256
# Settings that ask for work, by the limit that bounds them.
COUNTS = ("bench.min_repeats", "bench.warmup", "bench.warmup_max", "bench.eager_side_by_side",
          "scenario.min_queries", "scenario.requests_per_level")
DURATIONS = ("bench.min_time_s", "bench.warmup_s", "scenario.duration_s",
             "scenario.peak_duration_s")


def validate(cfg: DictConfig) -> None:
    """Raise on the first config value that cannot run; ``task=pipeline`` settings only
    when the task reads them."""
    check_finite(cfg)
    limits = cfg.limits
    if cfg.task.name == "pipeline":
        _check_bench(cfg.bench)
        _check_work(cfg, limits)
    if cfg.task.name in ("pipeline", "serve"):
        if cfg.pipeline.get("input", "audio") == "text":
            _check_text(cfg.text, int(cfg.pipeline.max_chars), int(limits.max_texts))
        elif cfg.task.name == "pipeline":
            _check_audio(cfg.audio, int(cfg.pipeline.sample_rate), limits)
    if cfg.task.name == "data":
        _check_data(cfg.data, limits)
    for key, folder in cache_dirs(cfg).items():
        check_writable_dir(key, folder)


def check_finite(node: Any, prefix: str = "") -> None:
    """Every number of the config is finite: ``audio.duration_s=nan`` (or ``inf``) is
    refused here, not by a ValueError deep inside the run."""
    for key in node if isinstance(node, DictConfig) else range(len(node)):
        path = f"{prefix}{key}"
        try:
            value = node[key]
        except Exception:  # noqa: BLE001 (an interpolation that cannot resolve here)
            continue
        if isinstance(value, (DictConfig, ListConfig)):
            check_finite(value, f"{path}.")
        elif isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{path}={value} is not a finite number; give a value such as "
                              "1.0")


def _too_much(key: str, value: float, limit_key: str, limit: float) -> ConfigError:
    return ConfigError(f"{key}={_number(value)} is above the limit of {_number(limit)} "
                       f"({limit_key}); lower it, or raise the limit with {limit_key}=<more> "
                       "if you mean it")


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _check_bench(bench: Any) -> None:
    counts = {"bench.min_repeats": (bench.min_repeats, 1), "bench.max_repeats":
              (bench.max_repeats, 1), "bench.warmup": (bench.warmup, 0)}
    for key, (value, least) in counts.items():
        if value < least:
            raise ConfigError(f"{key}={value} must be at least {least}")
    if bench.max_repeats < bench.min_repeats:
        raise ConfigError(f"bench.max_repeats={bench.max_repeats} is below "
                          f"bench.min_repeats={bench.min_repeats}; raise bench.max_repeats")
    for key in ("min_time_s", "warmup_s"):
        if bench[key] < 0:
            raise ConfigError(f"bench.{key}={bench[key]:g} must be 0 or more seconds")
    if bench.threads is not None and bench.threads < 1:
        raise ConfigError(f"bench.threads={bench.threads} must be at least 1 "
                          "(bench.threads=null uses all cores)")


def _check_work(cfg: DictConfig, limits: Any) -> None:
    """Counts of calls and minimum durations within ``limits.max_repeats`` and
    ``limits.max_time_s``."""
    for keys, limit_key in ((COUNTS, "limits.max_repeats"), (DURATIONS, "limits.max_time_s")):
        limit = float(cfg.limits[limit_key.split(".")[1]])
        for key in keys:
            group, name = key.split(".")
            value = cfg.get(group, {}).get(name)
            if value is not None and value > limit:
                raise _too_much(key, value, limit_key, limit)


def _check_audio(audio: Any, sample_rate: int, limits: Any) -> None:
    if audio.path:
        from avbench.audio.io import check_audio_file

        check_audio_file(audio.path, sample_rate, MIN_AUDIO_S)
        length_s = file_duration_s(audio.path)
        if length_s is not None and length_s > limits.max_audio_s:
            raise ConfigError(f"audio.path={audio.path} is {length_s:g} s long, above the "
                              f"limit of {limits.max_audio_s:g} s (limits.max_audio_s); cut it,"
                              " or raise the limit with limits.max_audio_s=<more>")
        return
    if audio.duration_s < MIN_AUDIO_S:
        raise ConfigError(f"audio.duration_s={audio.duration_s:g} must be at least "
                          f"{MIN_AUDIO_S:g} s (e.g. audio=1s)")
    if audio.duration_s > limits.max_audio_s:
        raise _too_much("audio.duration_s", audio.duration_s, "limits.max_audio_s",
                        limits.max_audio_s)
    _check_song_fits(float(audio.duration_s), sample_rate)


def _check_song_fits(duration_s: float, sample_rate: int) -> None:
    """A synthetic song that could not be generated in the memory available now."""
    import psutil

    needed = duration_s * sample_rate * SONG_BYTES_PER_SAMPLE
    available = psutil.virtual_memory().available
    if needed > available:
        raise ConfigError(
            f"audio.duration_s={duration_s:g} needs about {needed / 2**30:.1f} GiB to generate "
            f"the song ({SONG_BYTES_PER_SAMPLE} bytes per sample at {sample_rate} Hz), more "
            f"than the {available / 2**30:.1f} GiB of memory available; use a shorter song")


def _check_text(text: Any, max_chars: int, max_texts: int) -> None:
    """A text file within ``limits.max_texts`` utterances of ``pipeline.max_chars`` each,
    its size checked before it is read."""
    if not text.path:
        return
    from avbench.audio.texts import TextInputError, load_texts

    path = Path(text.path)
    most_bytes = max_texts * (4 * max_chars + 2)  # UTF-8: at most 4 bytes a character
    if path.is_file() and path.stat().st_size > most_bytes:
        raise TextInputError(
            f"text.path={path} holds {path.stat().st_size:,} bytes, more than "
            f"{max_texts:,} utterances (limits.max_texts) of {max_chars} characters "
            "(pipeline.max_chars) can fill; use a shorter file, or raise limits.max_texts")
    count = len(load_texts(text.corpus, text.path, max_chars))
    if count > max_texts:
        raise TextInputError(f"text.path={path} holds {count:,} utterances, above the limit "
                             f"of {max_texts:,} (limits.max_texts); use fewer lines, or "
                             "raise the limit with limits.max_texts=<more>")


def _check_data(data: Any, limits: Any) -> None:
    if data.path:
        return
    if data.clips > limits.max_clips:
        raise _too_much("data.clips", data.clips, "limits.max_clips", limits.max_clips)
    if data.max_s > limits.max_audio_s:
        raise _too_much("data.max_s", data.max_s, "limits.max_audio_s", limits.max_audio_s)


def file_duration_s(path: str | Path) -> float | None:
    """The length of an audio file from its header; None when it cannot be read."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 (any unreadable file: validation says why)
        return None
    return info.frames / info.samplerate if info.samplerate else None


def input_params(cfg: DictConfig, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the input of a file run described by the file (its stem and
    length), not by the synthetic song's settings the run does not use."""
    audio = cfg.get("audio")
    if audio is None or not audio.path or "audio.duration_s" not in params:
        return params
    described = {k: v for k, v in params.items() if k not in ("audio.duration_s", "audio.name")}
    described["audio.name"] = Path(audio.path).stem
    length_s = file_duration_s(audio.path)
    if length_s is not None:
        described["audio.duration_s"] = round(length_s, 6)
    return described


def cache_dirs(cfg: DictConfig) -> dict[str, Path]:
    """The cache folders a run may write, by the config key that sets them."""
    base = resolve_cache_dir(cfg.paths.cache_dir)
    folders = {"paths.cache_dir": base}
    if cfg.backend.cache_dir:
        folders["backend.cache_dir"] = resolve_cache_dir(cfg.backend.cache_dir)
    if cfg.audio.cache_dir:
        folders["audio.cache_dir"] = resolve_cache_dir(cfg.audio.cache_dir)
    return folders


def check_writable_dir(key: str, folder: Path) -> None:
    """Create ``folder`` if needed and write a file in it, or raise one line naming ``key``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise ConfigError(f"the cache folder {folder} cannot be written "
                          f"({error.strerror or error}); set {key}= to a writable folder"
                          ) from error
