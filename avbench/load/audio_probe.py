"""What the load client reads in a speech response: when its first audio arrived and how
many seconds of audio it holds, for every OpenAI response format, from the container's
own framing (no decoding, so the client adds next to no CPU to what it measures).

First audio is the first byte of coded audio: past a WAV or FLAC header, an MP3's ID3 tag,
Ogg's OpusHead/OpusTags pages; for ``stream_format=sse`` the first ``speech.audio.delta``.
A body that does not parse as its format is ``ValueError`` ("malformed audio").
"""

from __future__ import annotations

import base64
import json
import struct

PCM_RATE_HZ = 24000  # OpenAI's pcm: 24 kHz 16-bit little-endian mono, no header
UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # a streamed WAV's header does not know its length

MP3_BITRATES = {  # kbit/s by bitrate index: MPEG-1 Layer III, MPEG-2/2.5 Layer III
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}
MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025,
              8000, 7350)


def audio_offset(fmt: str, head: bytes) -> int | None:
    """Where the coded audio starts in a body beginning with ``head`` (None: not yet known)."""
    if fmt in ("pcm", "aac"):
        return 0
    if fmt == "wav":
        return _wav_layout(head)[0]
    if fmt == "mp3":
        return _id3_size(head)
    if fmt == "flac":
        return _flac_layout(head)[0]
    if fmt == "opus":
        return _first_audio_page(head)
    raise ValueError(f"unknown response format {fmt!r}")


def audio_seconds(fmt: str, body: bytes) -> float:
    """Seconds of audio in a complete body; ValueError if it is not that format."""
    if not body:
        raise ValueError("empty body")
    if fmt == "pcm":
        if len(body) % 2:
            raise ValueError("odd number of PCM bytes")
        return len(body) / 2 / PCM_RATE_HZ
    return {"wav": _wav_seconds, "mp3": _mp3_seconds, "aac": _adts_seconds,
            "flac": _flac_seconds, "opus": _opus_seconds}[fmt](body)


def _wav_layout(data: bytes) -> tuple[int | None, int, int]:
    """(offset of the samples, bytes per second, data size in the header)."""
    if len(data) >= 12 and (data[:4] != b"RIFF" or data[8:12] != b"WAVE"):
        raise ValueError("not a WAV file (no RIFF/WAVE header)")
    pos, rate_bytes = 12, 0
    while pos + 8 <= len(data):
        kind, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if kind == b"fmt " and pos + 24 <= len(data):
            channels, rate = struct.unpack("<HI", data[pos + 10:pos + 16])
            bits = struct.unpack("<H", data[pos + 22:pos + 24])[0]
            rate_bytes = rate * channels * bits // 8
        if kind == b"data":
            if not rate_bytes:
                raise ValueError("WAV data before its fmt chunk")
            return pos + 8, rate_bytes, size
        pos += 8 + size + (size & 1)
    return None, rate_bytes, 0


def _wav_seconds(body: bytes) -> float:
    offset, rate_bytes, size = _wav_layout(body)
    if offset is None:
        raise ValueError("WAV without a data chunk")
    if size not in UNKNOWN_SIZES and offset + size > len(body):
        raise ValueError("WAV shorter than its header says")
    present = len(body) - offset if size in UNKNOWN_SIZES else size
    return present / rate_bytes


def _id3_size(data: bytes) -> int | None:
    if data[:3] != b"ID3":
        return 0 if len(data) >= 3 else None
    if len(data) < 10:
        return None
    size = 0
    for byte in data[6:10]:  # synchsafe: 7 bits per byte
        size = (size << 7) | (byte & 0x7F)
    return 10 + size


def _mp3_seconds(body: bytes) -> float:
    pos, samples, rate = _id3_size(body) or 0, 0, 0
    while pos + 4 <= len(body):
        if body[pos:pos + 3] == b"TAG":  # ID3v1 at the end
            break
        header = struct.unpack(">I", body[pos:pos + 4])[0]
        version, layer = (header >> 19) & 3, (header >> 17) & 3
        bitrate_index, rate_index = (header >> 12) & 15, (header >> 10) & 3
        if header >> 21 != 0x7FF or layer != 1 or version == 1 or rate_index == 3 \
                or bitrate_index in (0, 15):
            raise ValueError(f"no MP3 Layer III frame at byte {pos}")
        rate = MP3_RATES[version][rate_index]
        per_frame = 1152 if version == 3 else 576
        kbps = MP3_BITRATES[1 if version == 3 else 2][bitrate_index]
        pos += per_frame // 8 * kbps * 1000 // rate + ((header >> 9) & 1)
        samples += per_frame
    if not rate:
        raise ValueError("no MP3 frames")
    return samples / rate


def _adts_seconds(body: bytes) -> float:
    pos, samples, rate = 0, 0, 0
    while pos + 7 <= len(body):
        head = body[pos:pos + 7]
        if head[0] != 0xFF or head[1] & 0xF6 != 0xF0:
            raise ValueError(f"no ADTS frame at byte {pos}")
        rate = ADTS_RATES[(head[2] >> 2) & 15]
        length = ((head[3] & 3) << 11) | (head[4] << 3) | (head[5] >> 5)
        samples += 1024 * ((head[6] & 3) + 1)
        pos += max(length, 7)
    if not rate:
        raise ValueError("no ADTS frames")
    return samples / rate


def _flac_layout(data: bytes) -> tuple[int | None, int, int]:
    """(offset of the first frame, sample rate, total samples; 0 = unknown)."""
    if len(data) >= 4 and data[:4] != b"fLaC":
        raise ValueError("not a FLAC stream")
    pos, rate, total = 4, 0, 0
    while pos + 4 <= len(data):
        last, kind = data[pos] >> 7, data[pos] & 0x7F
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        if kind == 0 and pos + 4 + 18 <= len(data):  # STREAMINFO
            info = int.from_bytes(data[pos + 14:pos + 22], "big")
            rate, total = info >> 44, info & ((1 << 36) - 1)
        pos += 4 + size
        if last:
            return (pos if pos <= len(data) else None), rate, total
    return None, rate, total


def _flac_seconds(body: bytes) -> float:
    offset, rate, total = _flac_layout(body)
    if offset is None or not rate:
        raise ValueError("FLAC without a complete STREAMINFO")
    if total:
        return total / rate
    import io

    import av  # a FLAC streamed without its length: count the decoded samples

    with av.open(io.BytesIO(body)) as container:
        return sum(f.samples for f in container.decode(audio=0)) / rate


def _ogg_pages(data: bytes) -> list[tuple[int, int, int]]:
    """Complete pages as (offset, end, granule position)."""
    pages, pos = [], 0
    while pos + 27 <= len(data):
        if data[pos:pos + 4] != b"OggS":
            raise ValueError(f"no Ogg page at byte {pos}")
        count = data[pos + 26]
        if pos + 27 + count > len(data):
            break
        end = pos + 27 + count + sum(data[pos + 27:pos + 27 + count])
        if end > len(data):
            break
        pages.append((pos, end, struct.unpack("<q", data[pos + 6:pos + 14])[0]))
        pos = end
    return pages


def _first_audio_page(data: bytes) -> int | None:
    return next((start for start, _, granule in _ogg_pages(data) if granule > 0), None)


def _opus_seconds(body: bytes) -> float:
    pages = _ogg_pages(body)
    if not pages or body[28:36] != b"OpusHead":
        raise ValueError("not an Ogg Opus stream")
    if pages[-1][1] != len(body):
        raise ValueError("Ogg stream ends inside a page")
    pre_skip = struct.unpack("<H", body[38:40])[0]
    return max(pages[-1][2] - pre_skip, 0) / 48000  # Opus counts at 48 kHz


class SseAudio:
    """The audio inside OpenAI's speech SSE events, as they arrive."""

    def __init__(self) -> None:
        self.pending, self.audio, self.deltas, self.done = b"", bytearray(), 0, False

    def feed(self, data: bytes) -> None:
        self.pending += data
        while b"\n\n" in self.pending:
            event, self.pending = self.pending.split(b"\n\n", 1)
            for line in event.splitlines():
                if line.startswith(b"data:"):
                    self._event(json.loads(line[5:]))

    def _event(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "speech.audio.delta":
            self.audio += base64.b64decode(event.get("audio", ""))
            self.deltas += 1
        elif kind == "speech.audio.done":
            self.done = True
        elif kind == "error":
            message = (event.get("error") or {}).get("message", "no message")
            raise ValueError(f"error event: {message}")
