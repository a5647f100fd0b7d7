"""WAV helpers shared by the server's tests and the load client: the length of a WAV."""

from __future__ import annotations

import io
import wave


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
