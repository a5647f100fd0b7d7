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


@pytest.mark.parametrize(("override", "words"), [
    ("audio.duration_s=nan", "audio.duration_s=nan is not a finite number"),
    ("audio.duration_s=inf", "audio.duration_s=inf is not a finite number"),
    ("bench.min_time_s=-inf", "bench.min_time_s=-inf is not a finite number"),
    ("audio.duration_s=1e9", "audio.duration_s=1e+09 is above the limit of 3600 "
                             "(limits.max_audio_s); lower it, or raise the limit with "
                             "limits.max_audio_s=<more>"),
    ("bench.min_repeats=1000000", "bench.min_repeats=1000000 is above the limit of 100000 "
                                  "(limits.max_repeats)"),
    ("bench.min_time_s=1e6", "bench.min_time_s=1e+06 is above the limit of 86400 "
                             "(limits.max_time_s)"),
])
def test_work_beyond_the_limits_is_refused(tmp_path: Path, asset_cache: Path, override: str,
                                           words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate(compose_run(tmp_path, asset_cache, override, "bench.max_repeats=10000000"))
    assert str(caught.value).startswith(words) and "\n" not in str(caught.value)


def test_a_limit_can_be_raised_and_memory_still_bounds_a_song(
        tmp_path: Path, asset_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    validate(compose_run(tmp_path, asset_cache, "bench.min_repeats=200000",
                         "bench.max_repeats=200000", "limits.max_repeats=200000"))
    import psutil

    available = psutil.virtual_memory().available
    longest_s = available / 22050 / 256  # what a song of this length would hold
    with pytest.raises(ConfigError, match=r"needs about .* GiB to generate the song .* more "
                                          r"than the .* GiB of memory available"):
        validate(compose_run(tmp_path, asset_cache, f"audio.duration_s={2 * longest_s:.0f}",
                             f"limits.max_audio_s={4 * longest_s:.0f}"))


def test_text_files_within_limits(tmp_path: Path, asset_cache: Path) -> None:
    from avbench.audio.texts import TextInputError

    many = tmp_path / "many.txt"
    many.write_text("a short line\n" * 30)
    tts = ("pipeline=tts", "weights=seeded", f"text.path={many}")
    with pytest.raises(TextInputError, match=r"holds 30 utterances, above the limit of 20 "
                                             r"\(limits.max_texts\)"):
        validate(compose_run(tmp_path, asset_cache, *tts, "limits.max_texts=20"))
    with pytest.raises(TextInputError, match=r"holds 390 bytes, more than 2 utterances"):
        validate(compose_run(tmp_path, asset_cache, *tts, "limits.max_texts=2",
                             "pipeline.max_chars=20"))
    long_line = tmp_path / "long.txt"
    long_line.write_text("word " * 200 + "\n")
    with pytest.raises(TextInputError, match=r"line 1 of .* has 999 characters, over the "
                                             r"model's limit of 600 \(pipeline.max_chars\)"):
        validate(compose_run(tmp_path, asset_cache, "pipeline=tts", "weights=seeded",
                             f"text.path={long_line}"))
    validate(compose_run(tmp_path, asset_cache, *tts))


def test_data_clips_within_limits(tmp_path: Path, asset_cache: Path) -> None:
    with pytest.raises(ConfigError, match=r"data.clips=1000000 is above the limit of 100000"):
        validate(compose_run(tmp_path, asset_cache, "task=data", "data.clips=1000000"))
    with pytest.raises(ConfigError, match=r"data.max_s=7200 is above the limit of 3600"):
        validate(compose_run(tmp_path, asset_cache, "task=data", "data.max_s=7200"))


def test_a_file_input_is_logged_as_the_file(tmp_path: Path, asset_cache: Path) -> None:
    from avbench.params import settings_params
    from avbench.validation import input_params

    song = tmp_path / "my-song.wav"
    sf.write(song, np.zeros(3 * 22050 + 11025, dtype=np.float32), 22050)
    cfg = compose_run(tmp_path, asset_cache, f"audio.path={song}")
    params = input_params(cfg, settings_params(cfg))
    assert params["audio.name"] == "my-song" and params["audio.duration_s"] == 3.5
    missing = compose_run(tmp_path, asset_cache, f"audio.path={tmp_path / 'gone.wav'}")
    params = input_params(missing, settings_params(missing))
    assert params["audio.name"] == "gone" and "audio.duration_s" not in params
    synthetic = compose_run(tmp_path, asset_cache)
    assert input_params(synthetic, settings_params(synthetic))["audio.duration_s"] == 1.0
