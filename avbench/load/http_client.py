"""The load client of any OpenAI-compatible speech server: one ``POST /v1/audio/speech``
per query over a kept-alive connection per client thread.

It reads every response to its end, whatever its framing (chunked or Content-Length,
keep-alive or ``Connection: close``), so the connection is free for the next request; it
times the first audio bytes (audio_probe.py) and counts the audio. A refused connection,
a timeout, a non-2xx answer (with the server's error message) or malformed audio is a
failed request with its reason, never a crash; the connection is then reopened.

The client is the standard library's ``http.client``: the load generator must add as
little as it can to what it measures (``requests`` costs about 2 ms more per request).
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from avbench.load.audio_probe import SseAudio, audio_offset, audio_seconds
from avbench.load.work import Work
from avbench.metrics.perf import RequestRecord
from avbench.runtime import ConfigError

READ_BYTES = 65536


@dataclass
class SpeechTarget:
    """Where and what to ask: the server, and the request's model, voice and formats."""

    url: str
    model: str
    voice: str = "default"
    response_format: str = "pcm"
    stream_format: str = "audio"
    api_key: str | None = None
    timeout_s: float = 30.0


def api_key_from(env_var: str | None) -> str | None:
    """The API key in environment variable ``env_var`` (none: send no Authorization)."""
    return os.environ.get(env_var) or None if env_var else None


class RequestFailed(Exception):
    pass


def http_work(target: SpeechTarget, texts: list[str]) -> Work:
    parts = urlsplit(target.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"scenario.url={target.url!r} is not an http(s) URL")
    path = parts.path.rstrip("/") + "/v1/audio/speech"
    headers = {"Content-Type": "application/json"}
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    connections = threading.local()

    def connection() -> http.client.HTTPConnection:
        if getattr(connections, "open", None) is None:
            kind = (http.client.HTTPSConnection if parts.scheme == "https"
                    else http.client.HTTPConnection)
            connections.open = kind(parts.hostname, parts.port, timeout=target.timeout_s)
        return connections.open

    def send(body: str) -> http.client.HTTPResponse:
        """POST ``body``; once more on a fresh connection if the server had closed the kept
        one while it was idle (its keep-alive timeout), as HTTP clients do."""
        link = connection()
        reused = link.sock is not None
        try:
            link.request("POST", path, body, headers)
            return link.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            _close(connections)
            if not reused:
                raise
        link = connection()
        link.request("POST", path, body, headers)
        return link.getresponse()

    def serve(index: int, on_first_audio: Callable[[], None]) -> RequestRecord:
        body = json.dumps({"model": target.model, "input": texts[index], "voice": target.voice,
                           "response_format": target.response_format,
                           "stream_format": target.stream_format})
        record = RequestRecord(0.0, chars=len(texts[index]), sent_s=time.perf_counter())
        try:
            read_reply(send(body), target, on_first_audio, record)
        except RequestFailed as error:
            record.ok, record.error = False, str(error)
        except TimeoutError:
            record.ok, record.error = False, f"timeout after {target.timeout_s:g} s"
        except ConnectionRefusedError:
            record.ok, record.error = False, "connection failed: connection refused"
        except (OSError, http.client.HTTPException) as error:
            record.ok, record.error = False, f"{type(error).__name__}: {_first_line(error)}"
        record.end_s = time.perf_counter()
        record.latency_ms = (record.end_s - record.sent_s) * 1000.0
        if not record.ok:
            _close(connections)  # the next request opens a fresh connection
        return record

    return serve


def read_reply(reply: http.client.HTTPResponse, target: SpeechTarget,
               on_first_audio: Callable[[], None], record: RequestRecord) -> None:
    """Read ``reply`` to its end into ``record``: status, bytes, first audio, audio seconds
    (RequestFailed if it is an error or not audio of the asked format)."""
    record.status = reply.status
    if not 200 <= reply.status < 300:
        raise RequestFailed(f"HTTP {reply.status}: {_error_message(reply.read())}")
    sse = SseAudio() if target.stream_format == "sse" else None
    body = bytearray()
    try:
        while chunk := reply.read1(READ_BYTES):
            body += chunk
            if sse is not None:
                sse.feed(chunk)
            if record.first_audio_s is None and _has_audio(target, body, sse):
                record.first_audio_s = time.perf_counter()
                record.ttfa_ms = (record.first_audio_s - record.sent_s) * 1000.0
                on_first_audio()
        reply.read()  # a Content-Length body ends without closing itself: close it now
        record.bytes = len(body)
        audio = body if sse is None else sse.audio
        if sse is not None and not sse.done:
            raise ValueError("SSE stream ended without speech.audio.done")
        record.audio_s = audio_seconds(target.response_format, bytes(audio))
    except ValueError as error:
        raise RequestFailed(f"malformed audio: {error}") from None
    if record.audio_s <= 0:
        raise RequestFailed("malformed audio: no samples")


def _has_audio(target: SpeechTarget, body: bytearray, sse: SseAudio | None) -> bool:
    if sse is not None:
        return sse.deltas > 0
    offset = audio_offset(target.response_format, bytes(body[:65536]))
    return offset is not None and len(body) > offset


def _error_message(data: bytes) -> str:
    """The message of an OpenAI error body, else the body's start."""
    text = data.decode(errors="replace")
    try:
        return str(json.loads(text)["error"]["message"])[:200]
    except (ValueError, KeyError, TypeError):
        return text[:120]


def _close(connections: threading.local) -> None:
    link = getattr(connections, "open", None)
    if link is not None:
        link.close()
    connections.open = None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:120] if text else repr(error)
