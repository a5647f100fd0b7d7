"""Audio encodings of the speech endpoint: 16-bit PCM (little-endian, mono) and WAV."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np

STREAMING_SIZE = 0xFFFFFFFF  # a streamed WAV's header cannot know its length


def pcm16(audio: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as 16-bit signed little-endian PCM."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm16(audio))
    return buffer.getvalue()


def streaming_wav_header(sample_rate: int) -> bytes:
    """A RIFF/WAVE header with unknown sizes, for a WAV whose samples follow as made."""
    return (b"RIFF" + struct.pack("<I", STREAMING_SIZE) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
            + b"data" + struct.pack("<I", STREAMING_SIZE))


def wav_seconds(data: bytes) -> float:
    """Length of a complete WAV file in seconds; ValueError if it is not one."""
    try:
        with wave.open(io.BytesIO(data), "rb") as handle:
            frames, rate = handle.getnframes(), handle.getframerate()
            if handle.getsampwidth() * handle.getnchannels() * frames > len(data):
                raise ValueError("WAV shorter than its header says")
    except (wave.Error, EOFError) as error:
        raise ValueError(f"not a WAV file ({error})") from None
    if rate <= 0:
        raise ValueError("WAV with no sample rate")
    return frames / rate
