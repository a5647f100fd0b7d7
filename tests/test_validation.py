"""Config values checked at the start of a run: one line each, naming the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avbench import runner
from avbench.audio.io import AudioInputError
from avbench.runtime import ConfigError
from avbench.validation import MIN_AUDIO_S, validate
from tests.tasks.test_pipeline_task import compose_run


def flac_claiming(path: Path, frames: int) -> Path:
    """A valid FLAC whose STREAMINFO header claims ``frames`` samples (36-bit field)."""
    sf.write(path, np.zeros(2205, dtype=np.float32), 22050, format="FLAC")
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC"
    offset = 8 + 10  # block header, then min/max block and frame sizes
    packed = int.from_bytes(data[offset:offset + 8], "big")
    packed = (packed & ~((1 << 36) - 1)) | frames
    data[offset:offset + 8] = packed.to_bytes(8, "big")
    path.write_bytes(bytes(data))
    assert sf.info(str(path)).frames == frames
    return path


@pytest.mark.parametrize(("override", "words"), [
    ("audio.duration_s=-1", "audio.duration_s=-1 must be at least"),
    ("bench.max_repeats=0", "bench.max_repeats=0 must be at least 1"),
    ("bench.min_repeats=0", "bench.min_repeats=0 must be at least 1"),
    ("bench.threads=-3", "bench.threads=-3 must be at least 1"),
    ("bench.threads=0", "bench.threads=0 must be at least 1"),
    ("bench.min_time_s=-1", "bench.min_time_s=-1 must be 0 or more"),
])
def test_bad_values_are_one_line(tmp_path: Path, asset_cache: Path, override: str,
                                 words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate(compose_run(tmp_path, asset_cache, override))
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_good_values_pass(tmp_path: Path, asset_cache: Path) -> None:
    validate(compose_run(tmp_path, asset_cache, "bench.threads=1"))


def test_one_sample_wav_is_too_short(tmp_path: Path, asset_cache: Path) -> None:
    sf.write(tmp_path / "one.wav", np.zeros(1, dtype=np.float32), 22050)
    with pytest.raises(AudioInputError, match=r"too short: .* holds 1 samples"):
        validate(compose_run(tmp_path, asset_cache, f"audio.path={tmp_path / 'one.wav'}"))
    sf.write(tmp_path / "ok.wav", np.zeros(int(MIN_AUDIO_S * 22050), dtype=np.float32), 22050)
    validate(compose_run(tmp_path, asset_cache, f"audio.path={tmp_path / 'ok.wav'}"))


def test_flac_claiming_more_than_memory_is_refused_before_reading(
        tmp_path: Path, asset_cache: Path) -> None:
    huge = flac_claiming(tmp_path / "huge.flac", (1 << 36) - 1)
    with pytest.raises(AudioInputError, match=r"claims 68,719,476,735 samples .* GiB to load"):
        validate(compose_run(tmp_path, asset_cache, f"audio.path={huge}"))
    from avbench.audio.io import load_audio

    with pytest.raises(AudioInputError, match="more than the .* GiB of memory available"):
        load_audio(huge, 22050)


def test_cache_dir_that_cannot_be_written(tmp_path: Path, asset_cache: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for key in ("paths.cache_dir", "backend.cache_dir", "audio.cache_dir"):
        with pytest.raises(ConfigError, match=f"cannot be written .* set {key}= to a writable"):
            validate(compose_run(tmp_path, asset_cache, f"{key}={blocker}/cache"))


def test_a_bad_value_fails_the_run_in_one_line(tmp_path: Path, asset_cache: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    result = runner.run(compose_run(tmp_path, asset_cache, "bench.threads=0"))
    assert not result.ok
    assert result.error == "bench.threads=0 must be at least 1 (bench.threads=null uses all cores)"
    assert capsys.readouterr().err == f"avbench: error: {result.error}\n"
