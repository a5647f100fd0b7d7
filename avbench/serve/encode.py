"""Encoders of the speech endpoint's response formats, fed 24 kHz mono float chunks.

Streaming formats (their bytes go out as the audio is made):

- ``pcm``: 16-bit signed little-endian mono, no header (OpenAI's pcm).
- ``mp3``: MPEG-2 Layer III by LAME, 64 kbit/s, quality 7; ``opus``: Opus in Ogg by
  libopus, 32 kbit/s, complexity 5, a page per 20 ms packet; ``aac``: AAC-LC in ADTS frames by FFmpeg's encoder,
  64 kbit/s. All three through PyAV (FFmpeg inside its wheel), muxed to a pipe that never
  seeks, so every byte, once written, is final.

Whole-file formats (their header holds the length, so they go out when complete):

- ``wav`` (16-bit PCM) and ``flac`` (16-bit), written by soundfile (libsndfile) with exact
  sizes. A streamed WAV or FLAC would need a header that does not know its length, and
  common readers then report a wrong one (Python's ``wave``: 24 hours; libsndfile cannot
  read a FLAC whose sample count is 0); use ``pcm`` for raw samples as they are made.

libsndfile also writes MP3 and Ogg/Opus, but not as a stream: it rewrites the MP3's
first frame (its Xing header) and FLAC's STREAMINFO when the file closes, and holds Ogg
pages of about a second.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from avbench.serve.protocol import OUTPUT_RATE_HZ


@dataclass(frozen=True)
class FormatSpec:
    media_type: str
    streams: bool  # bytes go out as the audio is made (else: when the file is complete)


FORMATS = {"mp3": FormatSpec("audio/mpeg", True), "opus": FormatSpec("audio/ogg", True),
           "aac": FormatSpec("audio/aac", True), "pcm": FormatSpec("audio/pcm", True),
           "wav": FormatSpec("audio/wav", False), "flac": FormatSpec("audio/flac", False)}

# response_format -> (FFmpeg muxer, encoder, bit rate, muxer options, encoder options).
# The encoders' speed settings are for serving: LAME -q 7 and Opus complexity 5 took
# about 0.7x and 0.2x of their defaults' time per audio second on the development machine.
PYAV_FORMATS = {"mp3": ("mp3", "libmp3lame", 64_000, {}, {"compression_level": "7"}),
                "opus": ("ogg", "libopus", 32_000, {"page_duration": "20000"},
                         {"compression_level": "5"}),
                "aac": ("adts", "aac", 64_000, {}, {})}
SOUNDFILE_FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16")}


class Encoder(Protocol):
    def write(self, samples: np.ndarray) -> bytes: ...

    def finish(self) -> bytes: ...


def pcm16(audio: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as 16-bit signed little-endian PCM."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class PcmEncoder:
    def write(self, samples: np.ndarray) -> bytes:
        return pcm16(samples)

    def finish(self) -> bytes:
        return b""


class _Pipe:
    """A write-only sink: what PyAV muxed since the last ``take``."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


class PyAVEncoder:
    """A streaming encoder + muxer (mp3, opus, aac) writing to a pipe."""

    def __init__(self, response_format: str) -> None:
        import av

        muxer, codec, bit_rate, options, codec_options = PYAV_FORMATS[response_format]
        self.pipe = _Pipe()
        self.container = av.open(self.pipe, mode="w", format=muxer, options=dict(options))
        self.stream = self.container.add_stream(codec, rate=OUTPUT_RATE_HZ, layout="mono",
                                                options=dict(codec_options))
        self.stream.bit_rate = bit_rate
        self.pts = 0

    def write(self, samples: np.ndarray) -> bytes:
        import av

        samples = np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1)
        if samples.size:
            frame = av.AudioFrame.from_ndarray(np.clip(samples, -1.0, 1.0), format="flt",
                                               layout="mono")
            frame.sample_rate, frame.pts = OUTPUT_RATE_HZ, self.pts
            self.pts += samples.shape[-1]
            self.container.mux(self.stream.encode(frame))
        return self.pipe.take()

    def finish(self) -> bytes:
        self.container.mux(self.stream.encode(None))
        self.container.close()
        return self.pipe.take()


class WholeFileEncoder:
    """WAV or FLAC by soundfile: the samples are kept and written, with exact sizes, at the
    end."""

    def __init__(self, response_format: str) -> None:
        self.format, self.subtype = SOUNDFILE_FORMATS[response_format]
        self.chunks: list[np.ndarray] = []

    def write(self, samples: np.ndarray) -> bytes:
        self.chunks.append(np.asarray(samples, dtype=np.float32).reshape(-1))
        return b""

    def finish(self) -> bytes:
        import soundfile as sf

        audio = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)
        buffer = io.BytesIO()
        sf.write(buffer, np.clip(audio, -1.0, 1.0), OUTPUT_RATE_HZ, format=self.format,
                 subtype=self.subtype)
        return buffer.getvalue()


def encoder_for(response_format: str) -> Encoder:
    if response_format == "pcm":
        return PcmEncoder()
    if response_format in PYAV_FORMATS:
        return PyAVEncoder(response_format)
    if response_format in SOUNDFILE_FORMATS:
        return WholeFileEncoder(response_format)
    raise ValueError(f"unknown response_format {response_format!r}; valid: {', '.join(FORMATS)}")
