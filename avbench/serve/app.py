"""The OpenAI-compatible speech endpoint over a TTS pipeline.

``POST /v1/audio/speech`` takes ``model``, ``input``, ``voice``, ``response_format``
(``wav`` | ``pcm``: 16-bit little-endian mono at the pipeline's rate, given in the
``X-Sample-Rate`` header) and ``stream`` (chunks sent as the vocoder makes them).
``GET /health`` reports the model and its sample rate. Errors are HTTP status codes
with a JSON ``detail``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field

from avbench.audio.texts import encode_text
from avbench.serve.audio import pcm16, streaming_wav_header, wav_bytes


class SpeechRequest(BaseModel):
    model: str = "avbench-tts"
    input: str = Field(..., description="the text to speak")
    voice: str = "default"
    response_format: str = "wav"
    stream: bool = False
    speed: float = 1.0


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    model: str
    sample_rate: int


def create_app(pipe: Any, model_name: str, max_chars: int) -> Any:
    """A FastAPI app serving ``pipe`` (a TTS pipeline with ``run`` and ``stream``)."""
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import Response, StreamingResponse

    app = FastAPI(title="avbench speech server")
    headers = {"X-Sample-Rate": str(pipe.sample_rate)}

    @app.get("/health")
    def health() -> Health:
        return Health(model=model_name, sample_rate=pipe.sample_rate)

    @app.post("/v1/audio/speech")
    def speech(request: SpeechRequest) -> Any:
        text = request.input.strip()
        if not text:
            raise HTTPException(400, "input is empty")
        if len(text) > max_chars:
            raise HTTPException(400, f"input has {len(text)} characters, over the model's "
                                     f"limit of {max_chars}")
        if request.response_format not in ("wav", "pcm"):
            raise HTTPException(400, f"response_format {request.response_format!r} is not "
                                     "supported; use wav or pcm")
        encoded = encode_text(text).to(pipe.device)
        media = "audio/wav" if request.response_format == "wav" else "audio/pcm"
        if request.stream:
            return StreamingResponse(_chunks(pipe, encoded, request.response_format),
                                     media_type=media, headers=headers)
        try:
            audio = pipe.run(encoded).audio.detach().float().cpu().numpy()
        except ValueError as error:
            raise HTTPException(422, str(error)) from None
        body = wav_bytes(audio, pipe.sample_rate) if request.response_format == "wav" \
            else pcm16(audio)
        return Response(body, media_type=media, headers=headers)

    return app


def _chunks(pipe: Any, encoded: Any, response_format: str) -> Iterator[bytes]:
    if response_format == "wav":
        yield streaming_wav_header(pipe.sample_rate)
    for chunk in pipe.stream(encoded):
        yield pcm16(chunk.detach().float().cpu().numpy())
