"""OpenAI's speech API as pydantic models: the request of ``POST /v1/audio/speech``, the
model list of ``GET /v1/models``, the health answer, and ``SpeechError``, an error in
OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``).

The constraints are OpenAI's (API reference, "Create speech"): ``input`` at most 4,096
characters, ``speed`` 0.25 to 4.0, ``response_format`` mp3 (default) | opus | aac | flac |
wav | pcm, ``stream_format`` audio (default) | sse, ``voice`` a name or ``{"id": name}``.
Unknown fields are refused, as OpenAI does.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_INPUT_CHARS = 4096  # OpenAI's limit; a model may take less (pipeline.max_chars)
OUTPUT_RATE_HZ = 24000  # every format, as OpenAI's: pcm is 24 kHz 16-bit LE mono
ResponseFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]


class VoiceId(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    input: str = Field(max_length=MAX_INPUT_CHARS)
    voice: str | VoiceId
    instructions: str | None = Field(default=None, max_length=MAX_INPUT_CHARS)
    response_format: ResponseFormat = "mp3"
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    stream_format: Literal["audio", "sse"] = "audio"

    @property
    def voice_name(self) -> str:
        return self.voice if isinstance(self.voice, str) else self.voice.id


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "avbench"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    model: str
    sample_rate: int  # of every response (OUTPUT_RATE_HZ)
    model_sample_rate: int  # what the pipeline makes, resampled to sample_rate
    voices: list[str]


class SpeechError(Exception):
    """A request the server refuses or fails, answered in OpenAI's error shape."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None, kind: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.kind = kind or ("invalid_request_error" if status < 500 else "server_error")

    def body(self) -> dict[str, dict[str, str | None]]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param,
                          "code": self.code}}
