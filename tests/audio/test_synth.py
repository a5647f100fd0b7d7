"""Synthetic test songs: determinism, label exactness, caching, voice profiles."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avbench.audio import synth
from avbench.audio.synth import (
    TestSong,
    VoiceProfileError,
    generate_song,
    load_or_generate,
    load_voice_profile,
    write_voice_profiles,
)
from avbench.dsp.functional import yin
from avbench.metrics.quality import pitch_metrics

SR = 22050


def _assert_same_song(a: TestSong, b: TestSong) -> None:
    for name in ("mix", "vocals", "accompaniment", "f0_hz", "voiced"):
        left, right = getattr(a, name), getattr(b, name)
        assert left.dtype == right.dtype and np.array_equal(left, right), name
    assert (a.sample_rate, a.hop_length, a.params) == (b.sample_rate, b.hop_length, b.params)


@pytest.fixture(scope="module")
def song() -> TestSong:
    return generate_song(8.0, SR, seed=0)


def test_same_seed_is_bit_identical_and_seeds_differ(song):
    _assert_same_song(song, generate_song(8.0, SR, seed=0))
    other = generate_song(8.0, SR, seed=1)
    assert not np.array_equal(other.vocals, song.vocals)
    assert not np.array_equal(other.f0_hz, song.f0_hz)


@pytest.mark.parametrize(
    ("duration_s", "sample_rate", "hop_length"),
    [(1.0, 16000, 160), (1.3, 8000, 80), (0.7, 44100, 512), (2.0, 24000, 300)],
)
def test_shapes_dtypes_and_frame_convention(duration_s, sample_rate, hop_length):
    s = generate_song(duration_s, sample_rate, seed=2, hop_length=hop_length)
    n = round(duration_s * sample_rate)
    assert s.mix.shape == s.vocals.shape == s.accompaniment.shape == (n,)
    assert s.mix.dtype == s.vocals.dtype == s.accompaniment.dtype == np.float32
    assert s.f0_hz.shape == s.voiced.shape == (1 + n // hop_length,)
    assert s.f0_hz.dtype == np.float32 and s.voiced.dtype == np.bool_
    assert s.duration_s == pytest.approx(duration_s, abs=1 / sample_rate)
    assert s.voiced.any() and np.isfinite(s.mix).all() and np.abs(s.mix).max() <= 0.8 + 1e-6
    if n % hop_length == 0:  # the last frame is centred one sample past the end
        assert not s.voiced[-1]


def test_stems_levels_and_label_ranges(song):
    np.testing.assert_array_equal(song.mix, song.vocals + song.accompaniment)
    ratio_db = 20 * np.log10(
        np.sqrt(np.mean(song.vocals.astype(np.float64) ** 2))
        / np.sqrt(np.mean(song.accompaniment.astype(np.float64) ** 2))
    )
    assert 6.0 <= ratio_db <= 10.0
    assert ratio_db == pytest.approx(song.params["vocal_to_accompaniment_db"], abs=0.01)
    assert np.all(song.f0_hz[~song.voiced] == 0)
    # Notes span MIDI 51..70 (155.6..466.2 Hz) and vibrato adds at most 50 cents.
    voiced_f0 = song.f0_hz[song.voiced]
    assert voiced_f0.min() > 155.6 * 2 ** (-50 / 1200) - 0.01
    assert voiced_f0.max() < 466.2 * 2 ** (50 / 1200) + 0.01
    assert 0.5 < song.voiced.mean() < 0.95  # silent gaps between phrases exist
    # Within a phrase F0 glides (<= 4 semitones over >= 40 ms) and wobbles (vibrato), but
    # never jumps: a 4-semitone step would be 26 %, the steepest glide frame is ~11 %.
    both = song.voiced[1:] & song.voiced[:-1]
    steps = np.abs(np.diff(song.f0_hz))[both] / song.f0_hz[1:][both]
    assert steps.max() < 0.15 and np.median(steps) > 1e-4


def test_labels_match_yin_on_the_clean_vocals(song):
    f0, voiced = yin(
        torch.from_numpy(song.vocals), SR, 2048, 256, 65.0, 1000.0, 0.1, return_voicing=True
    )
    metrics = pitch_metrics(f0, voiced, song.f0_hz, song.voiced)
    assert metrics["pitch_rmse_hz"] < 10.0
    assert metrics["pitch_rpa_50c"] > 0.9
    assert metrics["voicing_recall"] > 0.9


def test_audio_does_not_depend_on_hop_and_labels_subsample():
    coarse = generate_song(2.0, SR, seed=4, hop_length=256)
    fine = generate_song(2.0, SR, seed=4, hop_length=128)
    np.testing.assert_array_equal(coarse.mix, fine.mix)
    np.testing.assert_array_equal(coarse.f0_hz, fine.f0_hz[::2][: len(coarse.f0_hz)])
    np.testing.assert_array_equal(coarse.voiced, fine.voiced[::2][: len(coarse.voiced)])


def test_rejects_non_positive_arguments():
    with pytest.raises(ValueError, match="duration_s"):
        generate_song(0.0)


def test_cache_miss_then_hit(tmp_path, monkeypatch):
    first = load_or_generate(tmp_path, 1.5, 16000, seed=7, hop_length=160)
    entries = [p for p in tmp_path.iterdir()]
    assert len(entries) == 1 and not entries[0].name.startswith(".")
    assert sorted(p.name for p in entries[0].iterdir()) == [
        "accompaniment.wav",
        "metadata.json",
        "mix.wav",
        "vocals.wav",
    ]
    metadata = json.loads((entries[0] / "metadata.json").read_text())
    assert metadata["format_version"] == synth.FORMAT_VERSION
    assert metadata["params"]["seed"] == 7 and len(metadata["f0_hz"]) == len(first.f0_hz)
    _assert_same_song(first, generate_song(1.5, 16000, seed=7, hop_length=160))

    def no_generation(*args, **kwargs):
        raise AssertionError("cache hit expected")

    monkeypatch.setattr(synth, "generate_song", no_generation)
    _assert_same_song(load_or_generate(tmp_path, 1.5, 16000, seed=7, hop_length=160), first)


def test_cache_key_covers_every_parameter(tmp_path):
    load_or_generate(tmp_path, 1.0, 16000, seed=1, hop_length=160)
    load_or_generate(tmp_path, 1.0, 16000, seed=2, hop_length=160)
    load_or_generate(tmp_path, 1.0, 16000, seed=1, hop_length=320)
    load_or_generate(tmp_path, 1.0, 8000, seed=1, hop_length=160)
    load_or_generate(tmp_path, 1.1, 16000, seed=1, hop_length=160)
    load_or_generate(tmp_path, 1, 16000, seed=1, hop_length=160)  # int == float duration
    names = [p.name for p in tmp_path.iterdir()]
    assert len(names) == 5 and all(f"v{synth.FORMAT_VERSION}" in n for n in names)


@pytest.mark.parametrize("damage", ["truncate_wav", "bad_json", "missing_file", "wrong_labels"])
def test_corrupt_entry_is_regenerated(tmp_path, damage):
    original = load_or_generate(tmp_path, 1.0, 16000, seed=3, hop_length=160)
    (entry,) = tmp_path.iterdir()
    if damage == "truncate_wav":
        data = (entry / "vocals.wav").read_bytes()
        (entry / "vocals.wav").write_bytes(data[:40])
    elif damage == "bad_json":
        (entry / "metadata.json").write_text("{not json")
    elif damage == "missing_file":
        (entry / "mix.wav").unlink()
    else:
        metadata = json.loads((entry / "metadata.json").read_text())
        metadata["f0_hz"] = metadata["f0_hz"][:-3]
        (entry / "metadata.json").write_text(json.dumps(metadata))
    _assert_same_song(load_or_generate(tmp_path, 1.0, 16000, seed=3, hop_length=160), original)
    assert [p.name for p in tmp_path.iterdir()] == [entry.name]  # no temp/trash left behind
    _assert_same_song(load_or_generate(tmp_path, 1.0, 16000, seed=3, hop_length=160), original)


def test_losing_the_install_race_uses_the_winner(tmp_path, monkeypatch):
    real_generate = synth.generate_song
    winner: list[TestSong] = []

    def generate_while_another_process_installs(*args, **kwargs):
        monkeypatch.setattr(synth, "generate_song", real_generate)
        winner.append(load_or_generate(tmp_path, 1.0, 16000, seed=5, hop_length=160))
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(synth, "generate_song", generate_while_another_process_installs)
    song = load_or_generate(tmp_path, 1.0, 16000, seed=5, hop_length=160)
    _assert_same_song(song, winner[0])
    assert len(list(tmp_path.iterdir())) == 1  # our staging dir was removed


def test_voice_profiles_round_trip(tmp_path):
    paths = write_voice_profiles(tmp_path / "voices", count=3, seed=1)
    assert [p.name for p in paths] == ["voice-s1-0.json", "voice-s1-1.json", "voice-s1-2.json"]
    embeddings = [load_voice_profile(p) for p in paths]
    for path, embedding in zip(paths, embeddings, strict=True):
        payload = json.loads(path.read_text())
        assert payload["format"] == "avbench-voice-profile/1" and payload["seed"] == 1
        assert isinstance(payload["name"], str) and payload["name"]
        assert embedding.shape == (256,) and embedding.dtype == np.float32
        assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-5)
    assert abs(float(embeddings[0] @ embeddings[1])) < 0.3  # distinct voices
    again = write_voice_profiles(tmp_path / "again", count=3, seed=1)
    np.testing.assert_array_equal(load_voice_profile(again[2]), embeddings[2])
    assert not np.array_equal(
        load_voice_profile(write_voice_profiles(tmp_path, 1, 2)[0]), embeddings[0]
    )
    assert not [p for p in (tmp_path / "voices").iterdir() if p.suffix != ".json"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("{broken", "not readable JSON"),
        ('{"embedding": [0.1, 0.2], "format": "avbench-voice-profile/1"}', "256 finite numbers"),
        ('{"embedding": "abc"}', "got a JSON str"),
        ('{"embedding": [' + ", ".join(["0.1"] * 255) + ", NaN]}", "NaN/Inf"),
        ("[1, 2, 3]", "JSON object"),
        ('{"embedding": [0.0], "format": "other/2"}', "format"),
    ],
)
def test_voice_profile_errors(tmp_path, content, message):
    path = tmp_path / "profile.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(VoiceProfileError, match=message) as info:
        load_voice_profile(path)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_voice_profile_directory_is_an_error(tmp_path):
    with pytest.raises(VoiceProfileError, match="directory"):
        load_voice_profile(tmp_path)
