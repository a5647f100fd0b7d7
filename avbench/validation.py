"""Checks of config values at the start of a run: each problem is one line naming the fix.

The schema (avbench/config.py) checks types at compose time; these check the values a
type cannot: lengths and counts that must be positive, an input file that is too short or
larger than memory, cache folders that cannot be written. A failure raises ConfigError (or
AudioInputError for the input file), which the CLI prints as one line.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from avbench.runtime import ConfigError, resolve_cache_dir

MIN_AUDIO_S = 0.1  # shorter inputs are not worth timing (and break framed DSP: STFT padding)


def validate(cfg: DictConfig) -> None:
    """Raise on the first config value that cannot run; ``task=pipeline`` settings only
    when the task reads them."""
    if cfg.task.name == "pipeline":
        _check_bench(cfg.bench)
        _check_audio(cfg.audio, int(cfg.pipeline.sample_rate))
    for key, folder in cache_dirs(cfg).items():
        check_writable_dir(key, folder)


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


def _check_audio(audio: Any, sample_rate: int) -> None:
    if audio.path:
        from avbench.audio.io import check_audio_file

        check_audio_file(audio.path, sample_rate, MIN_AUDIO_S)
    elif audio.duration_s < MIN_AUDIO_S:
        raise ConfigError(f"audio.duration_s={audio.duration_s:g} must be at least "
                          f"{MIN_AUDIO_S:g} s (e.g. audio=1s)")


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
