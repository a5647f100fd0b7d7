"""Speed and rate conversion on a pure tone: the tempo changes, the pitch does not."""

from __future__ import annotations

import numpy as np
import pytest

from avbench.serve.transform import AudioTransform, tempo_steps


def tone(rate: int, seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def streamed(transform: AudioTransform, audio: np.ndarray, chunk: int) -> np.ndarray:
    parts = [transform.push(audio[i:i + chunk]) for i in range(0, len(audio), chunk)]
    return np.concatenate([*parts, transform.flush()])


def peak_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * rate / len(audio))


@pytest.mark.parametrize("speed", [0.25, 0.5, 1.0, 1.5, 4.0])
def test_speed_scales_the_length_and_keeps_the_pitch(speed: float) -> None:
    out = streamed(AudioTransform(22050, speed), tone(22050, 2.0), chunk=4096)
    assert len(out) / 24000 == pytest.approx(2.0 / speed, rel=0.02)
    assert peak_hz(out, 24000) == pytest.approx(440.0, abs=2.0)


def test_24_khz_at_speed_one_passes_through() -> None:
    audio = tone(24000, 0.5)
    transform = AudioTransform(24000, 1.0)
    assert transform.identity and np.array_equal(streamed(transform, audio, 1000), audio)


def test_chunked_resampling_joins_seamlessly() -> None:
    audio = tone(22050, 1.0)
    whole = streamed(AudioTransform(22050), audio, chunk=len(audio))
    pieces = streamed(AudioTransform(22050), audio, chunk=777)
    assert len(whole) == len(pieces)
    assert np.max(np.abs(whole - pieces)) < 1e-4


def test_tempo_steps_stay_in_atempos_range() -> None:
    assert tempo_steps(0.25) == [0.5, 0.5]
    assert tempo_steps(4.0) == [2.0, 2.0]
    assert np.prod(tempo_steps(3.3)) == pytest.approx(3.3)
    with pytest.raises(ValueError, match="outside 0.25..4.0"):
        tempo_steps(5.0)
