"""Real audio files through avbench.audio.io: formats, downmix, resampling, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from avbench.audio.io import AudioInputError, load_audio, resample, write_audio


def _sine(freq_hz: float, sample_rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def test_mono_wav_at_native_rate_round_trips(tmp_path):
    audio = _sine(440.0, 16000, 0.5)
    sf.write(tmp_path / "a.wav", audio, 16000, subtype="PCM_16")
    loaded = load_audio(tmp_path / "a.wav", 16000)
    assert loaded.dtype == np.float32 and loaded.shape == audio.shape
    np.testing.assert_allclose(loaded, audio, atol=1.0 / 32768)


def test_stereo_flac_44k1_is_downmixed_and_resampled(tmp_path):
    left, right = _sine(1000.0, 44100, 1.0, 0.6), _sine(1000.0, 44100, 1.0, 0.2)
    sf.write(tmp_path / "s.flac", np.stack([left, right], axis=1), 44100, subtype="PCM_24")
    loaded = load_audio(str(tmp_path / "s.flac"), 22050)
    expected = _sine(1000.0, 22050, 1.0, 0.4)  # mean of the channels, at the new rate
    assert loaded.dtype == np.float32 and loaded.shape == (22050,)
    inner = slice(200, -200)  # away from the resampler's edge transients
    np.testing.assert_allclose(loaded[inner], expected[inner], atol=2e-3)


def test_multichannel_wav_is_averaged(tmp_path):
    channels = np.stack([np.full(800, v, dtype=np.float32) for v in (0.1, 0.2, 0.6)], axis=1)
    sf.write(tmp_path / "m.wav", channels, 8000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(tmp_path / "m.wav", 8000), 0.3, atol=1e-7)


def test_ogg_vorbis_loads(tmp_path):
    audio = _sine(440.0, 22050, 1.0)
    sf.write(tmp_path / "v.ogg", audio, 22050, format="OGG", subtype="VORBIS")
    loaded = load_audio(tmp_path / "v.ogg", 16000)
    assert loaded.dtype == np.float32 and abs(len(loaded) - 16000) <= 1
    expected = _sine(440.0, 16000, 1.0)
    inner = slice(1000, 15000)
    correlation = np.corrcoef(loaded[inner], expected[inner])[0, 1]
    assert correlation > 0.99  # lossy codec: shape kept, not the exact samples


def test_resample_length_and_band_limit():
    audio = _sine(1000.0, 48000, 0.5)
    out = resample(audio, 48000, 16000)
    assert out.shape == (8000,) and out.dtype == np.float32
    np.testing.assert_allclose(out[100:-100], _sine(1000.0, 16000, 0.5)[100:-100], atol=2e-3)
    # 10 kHz is above the 8 kHz Nyquist of the target: it must be filtered, not aliased.
    alias = resample(_sine(10000.0, 48000, 0.5), 48000, 16000)
    assert np.sqrt(np.mean(alias[100:-100] ** 2)) < 1e-3
    same = resample(audio, 48000, 48000)
    np.testing.assert_array_equal(same, audio)


def _assert_one_line(error: pytest.ExceptionInfo) -> None:
    assert "\n" not in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(AudioInputError, match="audio file not found") as info:
        load_audio(tmp_path / "nope.wav", 16000)
    assert "audio.path" in str(info.value) and str(tmp_path / "nope.wav") in str(info.value)
    _assert_one_line(info)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(AudioInputError, match="directory") as info:
        load_audio(tmp_path, 16000)
    _assert_one_line(info)


@pytest.mark.parametrize(
    "content", [b"this is not audio at all" * 10, b"RIFF\x10\x00\x00\x00WAVEfmt "]
)
def test_corrupt_file(tmp_path, content):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(AudioInputError, match="cannot decode") as info:
        load_audio(path, 16000)
    assert "WAV/FLAC/OGG" in str(info.value)
    _assert_one_line(info)


def test_truncated_flac(tmp_path):
    path = tmp_path / "cut.flac"
    sf.write(path, _sine(440.0, 16000, 1.0), 16000)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(AudioInputError) as info:
        load_audio(path, 16000)
    _assert_one_line(info)


def test_zero_length_file(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioInputError, match="no samples") as info:
        load_audio(path, 16000)
    _assert_one_line(info)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_float_wav(tmp_path, bad):
    audio = _sine(440.0, 16000, 0.1)
    audio[37] = bad
    sf.write(tmp_path / "nan.wav", audio, 16000, subtype="FLOAT")
    with pytest.raises(AudioInputError, match="NaN or Inf") as info:
        load_audio(tmp_path / "nan.wav", 16000)
    _assert_one_line(info)


def test_write_audio_is_pcm16_clipped_and_atomic(tmp_path):
    path = tmp_path / "out" / "x.wav"
    audio = np.array([0.0, 0.5, -0.5, 2.0, -3.0], dtype=np.float32)
    write_audio(path, audio, 16000)
    info = sf.info(path)
    assert (info.samplerate, info.subtype, info.format) == (16000, "PCM_16", "WAV")
    written, _ = sf.read(path, dtype="float32")
    np.testing.assert_allclose(written, [0.0, 0.5, -0.5, 1.0, -1.0], atol=1.0 / 32768)
    write_audio(path, np.zeros(3, dtype=np.float32), 8000)  # replaces the previous file
    assert sf.info(path).frames == 3
    assert [p.name for p in path.parent.iterdir()] == ["x.wav"]  # no temp files left


def test_write_audio_refuses_nan_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        write_audio(tmp_path / "bad.wav", np.array([0.0, np.nan], dtype=np.float32), 16000)
    assert list(tmp_path.iterdir()) == []


def test_ffmpeg_hint_quotes_the_path_for_a_shell(tmp_path):
    import shlex

    odd = tmp_path / "my song $(rm -rf x).wav"
    odd.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(AudioInputError) as caught:
        load_audio(odd, 22050)
    assert f"ffmpeg -i {shlex.quote(str(odd))} out.wav" in str(caught.value)
    assert shlex.split(str(caught.value).split("`")[1])[2] == str(odd)
