"""The OpenAI-compatible speech server over a TTS pipeline (FastAPI).

- ``POST /v1/audio/speech``: OpenAI's request (serve/protocol.py); the audio in
  ``response_format`` at 24 kHz and ``speed``, chunked as it is made for mp3, opus, aac
  and pcm (whole for wav and flac), or OpenAI's SSE events with ``stream_format=sse``.
- ``GET /v1/models`` (and ``/v1/models/{id}``): the served model, named after the pipeline.
- ``GET /health``: the model, its voices and rates.
``app.state.encode_stats`` accumulates the time spent converting and encoding.
Every error is OpenAI's ``{"error": {message, type, param, code}}`` (serve/errors.py).
"""

from __future__ import annotations

import time
from typing import Any

from avbench.serve.encode import FORMATS
from avbench.serve.errors import as_speech_error, install_error_handlers
from avbench.serve.protocol import (
    OUTPUT_RATE_HZ,
    Health,
    ModelCard,
    ModelList,
    SpeechError,
    SpeechRequest,
)
from avbench.serve.speech import (
    EncodeStats,
    SpeechBody,
    check_request,
    primed,
    served_voices,
)
from avbench.serve.stream import SpeechStream


def create_app(pipe: Any, model_id: str, max_chars: int) -> Any:
    """A FastAPI app serving ``pipe`` (a TTS pipeline: ``run``, optionally ``stream``) as
    the model ``model_id``, taking inputs of at most ``max_chars`` characters."""
    from fastapi import FastAPI
    from fastapi.responses import Response

    app = FastAPI(title="avbench speech server")
    install_error_handlers(app)
    app.state.encode_stats = stats = EncodeStats()
    voices = served_voices(pipe)
    card = ModelCard(id=model_id, created=int(time.time()))

    @app.get("/health")
    def health() -> Health:
        return Health(model=model_id, sample_rate=OUTPUT_RATE_HZ,
                      model_sample_rate=pipe.sample_rate, voices=voices)

    @app.get("/v1/models")
    def models() -> ModelList:
        return ModelList(data=[card])

    @app.get("/v1/models/{name}")
    def model(name: str) -> ModelCard:
        if name != model_id:
            raise SpeechError(404, f"The model '{name}' does not exist; this server serves "
                                   f"'{model_id}'", param="model", code="model_not_found")
        return card

    @app.post("/v1/audio/speech")
    def speech(request: SpeechRequest) -> Any:
        try:
            text = check_request(request, model_id, voices, max_chars)
            spec = FORMATS[request.response_format]
            sse = request.stream_format == "sse"
            body = primed(SpeechBody(pipe, text, request, stats).body())
            if not sse and not spec.streams:  # a whole file: sent with its length
                return Response(b"".join(body), media_type=spec.media_type)
            return SpeechStream(body, "text/event-stream" if sse else spec.media_type, sse)
        except Exception as error:  # one error shape, and no traceback for a bad request
            raise as_speech_error(error) from None

    return app
