"""One speech request, from checked request to response bytes.

``check_request`` refuses what the served model cannot do (another model, an unknown
voice, instructions, an empty or too long input) before any synthesis. ``speech_body``
then synthesises chunk by chunk (``pipe.stream`` where the pipeline has it), converts to
24 kHz at the requested speed, encodes, and, for ``stream_format=sse``, wraps the bytes
in OpenAI's ``speech.audio.delta`` / ``speech.audio.done`` events. ``primed`` runs the body
up to its first bytes before the response starts, so an input the model cannot speak is
a 400, never a 200 cut short.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from avbench.audio.texts import TextInputError, encode_text
from avbench.serve.encode import encoder_for
from avbench.serve.protocol import OUTPUT_RATE_HZ, SpeechError, SpeechRequest
from avbench.serve.transform import AudioTransform


def served_voices(pipe: Any) -> list[str]:
    """The voices of a pipeline: its ``voices`` if it names them, else one, ``default``."""
    return list(getattr(pipe, "voices", None) or ["default"])


def check_request(request: SpeechRequest, model_id: str, voices: list[str],
                  max_chars: int) -> str:
    """The text to speak, or the SpeechError the request deserves."""
    if request.model != model_id:
        raise SpeechError(404, f"The model '{request.model}' does not exist; this server "
                               f"serves '{model_id}' (GET /v1/models)", param="model",
                          code="model_not_found")
    if request.voice_name not in voices:
        raise SpeechError(400, f"Invalid value for 'voice': '{request.voice_name}'; model "
                               f"'{model_id}' has the voices: {', '.join(voices)}",
                          param="voice", code="invalid_value")
    if request.instructions:
        raise SpeechError(400, f"model '{model_id}' cannot follow instructions; leave "
                               "'instructions' out", param="instructions",
                          code="unsupported_parameter")
    text = request.input.strip()
    if not text:
        raise SpeechError(400, "'input' is empty; give the text to speak", param="input",
                          code="invalid_value")
    if len(text) > max_chars:
        raise SpeechError(400, f"'input' has {len(text)} characters, over model "
                               f"'{model_id}''s limit of {max_chars}; split it into shorter "
                               "requests", param="input", code="string_above_max_length")
    return text


def synthesis(pipe: Any, text: str) -> Iterator[np.ndarray]:
    """The pipeline's audio for ``text`` (float, at its rate), chunk by chunk if it can."""
    encoded = encode_text(text).to(pipe.device)
    if hasattr(pipe, "stream"):
        for chunk in pipe.stream(encoded):
            yield chunk.detach().float().cpu().numpy().reshape(-1)
    else:
        yield pipe.run(encoded).audio.detach().float().cpu().numpy().reshape(-1)


class EncodeStats:
    """The server's CPU time spent converting and encoding, per second of audio sent, by
    response format (what ``scenario=http`` reports as ``http.encode_ms_per_audio_s``).
    Thread CPU time, so a busy server's other requests do not inflate it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seconds: dict[str, list[float]] = {}  # format -> [encoding s, audio s]

    def add(self, response_format: str, encode_s: float, audio_s: float) -> None:
        with self.lock:
            totals = self.seconds.setdefault(response_format, [0.0, 0.0])
            totals[0] += encode_s
            totals[1] += audio_s

    def ms_per_audio_s(self) -> dict[str, float]:
        with self.lock:
            return {fmt: 1000.0 * enc / audio for fmt, (enc, audio) in self.seconds.items()
                    if audio > 0}


class SpeechBody:
    """The encoded audio of one request, and how much of it was made."""

    def __init__(self, pipe: Any, text: str, request: SpeechRequest,
                 stats: EncodeStats | None = None) -> None:
        self.pipe, self.text, self.request, self.stats = pipe, text, request, stats
        self.samples = 0  # 24 kHz samples made so far
        self.encode_s = 0.0  # CPU time in resampling, tempo and the encoder

    def audio(self) -> Iterator[bytes]:
        clock = time.thread_time  # CPU time of this thread: not other requests' work
        start = clock()
        transform = AudioTransform(self.pipe.sample_rate, self.request.speed)
        encoder = encoder_for(self.request.response_format)
        self.encode_s += clock() - start
        for chunk in synthesis(self.pipe, self.text):
            start = clock()
            out = transform.push(chunk)
            data = encoder.write(out)
            self.samples += out.size
            self.encode_s += clock() - start
            if data:
                yield data
        start = clock()
        tail = transform.flush()
        data = encoder.write(tail) + encoder.finish()
        self.samples += tail.size
        self.encode_s += clock() - start
        if self.stats is not None:
            self.stats.add(self.request.response_format, self.encode_s,
                           self.samples / OUTPUT_RATE_HZ)
        if data:
            yield data

    def events(self) -> Iterator[bytes]:
        """OpenAI's server-sent events: a delta per encoded chunk, then done with usage
        (input_tokens: characters of input; output_tokens: tenths of a second of audio)."""
        for data in self.audio():
            yield sse({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()})
        output = math.ceil(10 * self.samples / OUTPUT_RATE_HZ)
        yield sse({"type": "speech.audio.done", "usage": {
            "input_tokens": len(self.text), "output_tokens": output,
            "total_tokens": len(self.text) + output}})

    def body(self) -> Iterator[bytes]:
        return self.events() if self.request.stream_format == "sse" else self.audio()


def sse(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event)}\n\n".encode()


def primed(body: Iterator[bytes]) -> Iterator[bytes]:
    """Run ``body`` to its first bytes now (raising a SpeechError for input the model
    cannot speak), and return the whole body, those bytes first."""
    try:
        first = next(body, b"")
    except TextInputError as error:
        raise SpeechError(400, str(error), param="input", code="invalid_value") from None

    def chained() -> Iterator[bytes]:
        if first:
            yield first
        yield from body

    return chained()
