"""avbench.dsp.functional against librosa 0.11, and YIN against the labelled test song."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from avbench.audio.synth import generate_song
from avbench.dsp import functional as fn
from avbench.dsp.autocorrelation import (
    frame_autocorrelation_blocks,
    frame_autocorrelation_fft,
    next_fast_len,
)
from avbench.metrics.quality import pitch_metrics

SR = 22050


@pytest.fixture(scope="module")
def song():
    return generate_song(4.0, SR, seed=3)


def _tone(freq_hz: float, seconds: float = 1.0, sample_rate: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tone = np.sin(2 * np.pi * freq_hz * t) + 0.3 * np.sin(2 * np.pi * 2 * freq_hz * t + 1.0)
    return (0.5 * tone).astype(np.float32)


@pytest.mark.parametrize(
    ("sample_rate", "n_fft", "n_mels", "f_min", "f_max"),
    [
        (22050, 1024, 80, 0.0, None),
        (16000, 512, 40, 50.0, 7000.0),
        (24000, 2048, 128, 0.0, 11000.0),
    ],
)
def test_mel_filterbank_matches_librosa(sample_rate, n_fft, n_mels, f_min, f_max):
    ours = fn.mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max)
    ref = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max)
    assert ours.shape == (n_fft // 2 + 1, n_mels) and ours.dtype == torch.float32
    np.testing.assert_allclose(ours.numpy().T, ref, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(
    ("n_fft", "hop_length", "n_mels", "center"),
    [(1024, 256, 80, True), (512, 128, 64, True), (2048, 300, 128, True), (1024, 256, 80, False),
     (400, 160, 40, True), (256, 64, 32, True), (1024, 441, 96, False)],
)
def test_log_mel_matches_librosa(song, n_fft, hop_length, n_mels, center):
    audio = song.mix[: SR // 2]
    ref = np.log(
        np.maximum(
            librosa.feature.melspectrogram(
                y=audio,
                sr=SR,
                n_fft=n_fft,
                hop_length=hop_length,
                n_mels=n_mels,
                center=center,
            ),
            fn.LOG_MEL_FLOOR,
        )
    )
    ours = fn.log_mel_spectrogram(
        torch.from_numpy(audio), SR, n_fft, hop_length, n_mels, center=center
    ).numpy()
    assert ours.shape == ref.shape
    if center:
        assert ours.shape[-1] == 1 + len(audio) // hop_length
    # float32 FFT rounding only matters near the 1e-10 floor (the song's silent lead-in).
    loud = ref > np.log(1e-6)
    assert loud.mean() > 0.5
    np.testing.assert_allclose(ours[loud], ref[loud], rtol=0, atol=2e-4)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-2)


@pytest.mark.parametrize("center", [True, False])
def test_magnitude_log_mel_matches_librosa_hifigan_settings(song, center):
    """HiFi-GAN's mel: magnitude (power 1), f_max 8 kHz, log of clamp 1e-5."""
    audio = song.mix[: SR // 2]
    mel = librosa.feature.melspectrogram(y=audio, sr=SR, n_fft=1024, hop_length=256, n_mels=80,
                                         fmax=8000.0, center=center, power=1.0,
                                         pad_mode="constant")
    ref = np.log(np.maximum(mel, 1e-5))
    ours = fn.log_mel_spectrogram(torch.from_numpy(audio), SR, 1024, 256, 80, f_max=8000.0,
                                  center=center, power=1.0, floor=1e-5).numpy()
    assert ours.shape == ref.shape
    loud = ref > np.log(1e-3)  # float32 rounding only matters near the floor
    assert loud.mean() > 0.5
    np.testing.assert_allclose(ours[loud], ref[loud], rtol=0, atol=2e-4)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=2e-3)


def test_log_mel_prebuilt_state_and_batch_shapes():
    audio = torch.from_numpy(
        np.random.default_rng(0).standard_normal((2, 3, 4000)).astype(np.float32)
    )
    window = fn.hann_window(512)
    mel_basis = fn.mel_filterbank(SR, 512, 40)
    batched = fn.log_mel_spectrogram(audio, SR, 512, 128, 40, window=window, mel_basis=mel_basis)
    assert batched.shape == (2, 3, 40, 1 + 4000 // 128)
    single = fn.log_mel_spectrogram(audio[1, 2], SR, 512, 128, 40)
    torch.testing.assert_close(batched[1, 2], single, rtol=0, atol=1e-5)
    silent = fn.log_mel_spectrogram(torch.zeros(1000), SR, 512, 128, 40)
    assert torch.all(silent == np.log(fn.LOG_MEL_FLOOR).astype(np.float32))


def test_power_spectrogram_parseval_for_a_centred_frame():
    # With a rectangular window, sum |X|^2 over the full spectrum equals n_fft * energy.
    n_fft = 256
    audio = torch.from_numpy(np.random.default_rng(1).standard_normal(2048)).to(torch.float64)
    power = fn.power_spectrogram(audio, n_fft, 64, torch.ones(n_fft, dtype=torch.float64))
    frame = audio[10 * 64 - n_fft // 2 : 10 * 64 + n_fft // 2]
    full = power[0, 10] + power[-1, 10] + 2 * power[1:-1, 10].sum()
    torch.testing.assert_close(full, n_fft * frame.square().sum(), rtol=1e-10, atol=0)


@pytest.mark.parametrize(
    ("hop_length", "frame_length"),
    [(256, 2048), (512, 2048), (192, 2048), (300, 2048), (128, 1024)],
)
def test_autocorrelation_paths_agree(hop_length, frame_length):
    signal = torch.from_numpy(
        np.random.default_rng(2).standard_normal((2, 6000)).astype(np.float32)
    )
    n_frames = 1 + (signal.shape[-1] - frame_length) // hop_length
    reference = frame_autocorrelation_fft(signal.double(), frame_length, hop_length, n_frames, 340)
    block = np.gcd(frame_length, hop_length)
    blocks = frame_autocorrelation_blocks(
        signal.double(), frame_length, hop_length, n_frames, 340, int(block)
    )
    torch.testing.assert_close(blocks, reference, rtol=1e-9, atol=1e-9)


def test_next_fast_len():
    assert [next_fast_len(n) for n in (1, 7, 2388, 4097)] == [1, 8, 2400, 4320]


def _assert_matches_librosa_yin(
    audio: np.ndarray,
    sample_rate: int,
    frame_length: int,
    hop_length: int,
    fmin: float,
    fmax: float,
    threshold: float = 0.1,
) -> None:
    ref = librosa.yin(
        audio,
        fmin=fmin,
        fmax=fmax,
        sr=sample_rate,
        frame_length=frame_length,
        hop_length=hop_length,
        trough_threshold=threshold,
    )
    ours, voiced = fn.yin(
        torch.from_numpy(audio),
        sample_rate,
        frame_length,
        hop_length,
        fmin,
        fmax,
        threshold,
        return_voicing=True,
    )
    assert ours.shape == ref.shape == (1 + len(audio) // hop_length,)
    relative = np.abs(ours.numpy() - ref) / ref
    # Identical algorithm; only float rounding differs, which can flip a near-tie trough in
    # an odd noisy frame.
    assert np.mean(relative < 1e-3) >= 0.99
    assert np.all(relative[voiced.numpy()] < 0.01)


@pytest.mark.parametrize("freq_hz", [82.0, 220.0, 440.0, 880.0])
def test_yin_matches_librosa_on_tones(freq_hz):
    _assert_matches_librosa_yin(_tone(freq_hz), SR, 2048, 256, 65.0, 1000.0)
    f0, voiced = fn.yin(torch.from_numpy(_tone(freq_hz)), SR, return_voicing=True)
    inner = slice(8, -8)  # frames whose window lies fully inside the tone
    assert voiced[inner].all()
    # YIN's parabolic interpolation on the CMNDF is biased by up to ~0.6% at low F0.
    np.testing.assert_allclose(f0[inner].numpy(), freq_hz, rtol=1e-2)


@pytest.mark.parametrize(
    ("frame_length", "hop_length", "sample_rate"),
    [(2048, 256, SR), (2048, 128, SR), (2048, 192, SR), (2048, 300, SR), (1024, 160, 16000)],
)
def test_yin_matches_librosa_on_song(song, frame_length, hop_length, sample_rate):
    audio = song.vocals if sample_rate == SR else generate_song(2.0, sample_rate, seed=1).vocals
    _assert_matches_librosa_yin(audio, sample_rate, frame_length, hop_length, 65.0, 1000.0)


def test_yin_accuracy_on_labelled_vocals():
    song = generate_song(6.0, SR, seed=5, hop_length=256)
    f0, voiced = fn.yin(
        torch.from_numpy(song.vocals), SR, 2048, 256, 65.0, 1000.0, 0.1, return_voicing=True
    )
    metrics = pitch_metrics(f0, voiced, song.f0_hz, song.voiced)
    assert metrics["pitch_rmse_hz"] < 10.0
    assert metrics["pitch_rpa_50c"] > 0.9
    assert metrics["voicing_recall"] > 0.9


def test_yin_batches_and_keeps_leading_shape(song):
    audio = torch.from_numpy(np.stack([song.vocals[:20000], _tone(330.0)[:20000]]))
    f0, voiced = fn.yin(audio[None], SR, return_voicing=True)
    assert f0.shape == voiced.shape == (1, 2, 1 + 20000 // 256)
    for row in range(2):
        torch.testing.assert_close(f0[0, row], fn.yin(audio[row], SR), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (torch.float16, torch.float32),
        (torch.bfloat16, torch.float32),
        (torch.float64, torch.float64),
    ],
)
def test_dtypes(dtype, expected):
    audio = torch.from_numpy(_tone(300.0, 0.3)).to(dtype)
    f0 = fn.yin(audio, SR)
    assert f0.dtype == expected
    np.testing.assert_allclose(f0[4:-4].float().numpy(), 300.0, rtol=1e-2)
    assert fn.log_mel_spectrogram(audio, SR).dtype == expected


@pytest.mark.parametrize("threshold", [0.01, 0.3, 1.5])
def test_yin_trough_rule_matches_librosa_at_any_threshold(threshold):
    """Tones, noise and exact silence in one signal: no trough, troughs only below a high
    threshold, silent frames whose CMNDF is flat (ties at every lag)."""
    rng = np.random.default_rng(3)
    tone = _tone(220.0)[: SR // 2]
    noise = 0.3 * rng.standard_normal(SR // 2).astype(np.float32)
    audio = np.concatenate([tone, np.zeros(SR // 4, dtype=np.float32), noise, tone + noise])
    _assert_matches_librosa_yin(audio, SR, 2048, 256, 65.0, 1000.0, threshold)


def test_yin_silence_returns_librosa_value():
    f0, voiced = fn.yin(torch.zeros(4096), SR, hop_length=256, return_voicing=True)
    ref = librosa.yin(
        np.zeros(4096, dtype=np.float32), fmin=65.0, fmax=1000.0, sr=SR, hop_length=256
    )
    assert not voiced.any()
    np.testing.assert_allclose(f0.numpy(), ref, rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fmin": 10.0}, "frame_length"),
        ({"fmax": 20000.0}, "sample_rate/2"),
        ({"fmin": 500.0, "fmax": 400.0}, "fmin < fmax"),
    ],
)
def test_yin_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fn.yin(torch.zeros(4096), SR, **kwargs)
