"""Faults of the server: input the model cannot speak (refused before any status line), a
synthesis that fails mid-stream (an incomplete body or an SSE error event, one log line),
and a port already in use (one error line)."""

from __future__ import annotations

import http.client
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch

from avbench.runtime import ConfigError
from avbench.serve.app import create_app
from avbench.serve.server import BackgroundServer, listen
from tests.serve.conftest import Served


def post(url: str, body: dict) -> tuple[int, bytes]:
    """A raw POST: the status line and the body exactly as sent (no client retries)."""
    parts = urlsplit(url)
    link = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        link.request("POST", "/v1/audio/speech", json.dumps(body),
                     {"Content-Type": "application/json"})
        reply = link.getresponse()
        return reply.status, reply.read()
    finally:
        link.close()


@pytest.mark.parametrize("response_format", ["mp3", "pcm", "wav"])
@pytest.mark.parametrize("stream_format", ["audio", "sse"])
def test_unspeakable_input_is_a_400_before_any_audio(served: Served, response_format: str,
                                                     stream_format: str) -> None:
    status, body = post(served.url, {"model": "tts", "voice": "default", "input": "😀",
                                     "response_format": response_format,
                                     "stream_format": stream_format})
    assert status == 400
    error = json.loads(body)["error"]
    assert error["param"] == "input" and "no speakable text" in error["message"]


class FailingTTS:
    """A pipeline whose stream fails after its first chunk (a fault mid-synthesis)."""

    sample_rate = 24000
    device = torch.device("cpu")

    def stream(self, text: torch.Tensor) -> Iterator[torch.Tensor]:
        yield torch.full((4800,), 0.1)
        raise RuntimeError("vocoder ran out of memory\nsecond line of detail")


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def failing_server() -> Iterator[tuple[str, Lines]]:
    server = BackgroundServer(create_app(FailingTTS(), "tts", 100))
    lines = Lines()
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "avbench.serve")]
    for logger in loggers:
        logger.addHandler(lines)
    try:
        with server as url:
            yield url, lines
    finally:
        for logger in loggers:
            logger.removeHandler(lines)


def test_a_failure_mid_stream_leaves_the_body_incomplete(
        failing_server: tuple[str, Lines]) -> None:
    url, lines = failing_server
    parts = urlsplit(url)
    link = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    link.request("POST", "/v1/audio/speech", json.dumps(
        {"model": "tts", "voice": "default", "input": "Hello.", "response_format": "pcm"}),
        {"Content-Type": "application/json"})
    reply = link.getresponse()
    assert reply.status == 200 and reply.getheader("Transfer-Encoding") == "chunked"
    with pytest.raises(http.client.IncompleteRead) as caught:
        reply.read()
    assert len(caught.value.partial) == 2 * 4800  # the audio made before the fault
    link.close()
    assert len(lines.lines) == 1, lines.lines
    assert "connection closed, body incomplete" in lines.lines[0]
    assert "RuntimeError: vocoder ran out of memory" in lines.lines[0]


def test_a_failure_mid_sse_stream_ends_with_an_error_event(
        failing_server: tuple[str, Lines]) -> None:
    url, lines = failing_server
    status, body = post(url, {"model": "tts", "voice": "default", "input": "Hello.",
                              "response_format": "pcm", "stream_format": "sse"})
    events = [json.loads(line[6:]) for line in body.decode().splitlines()
              if line.startswith("data: ")]
    assert status == 200 and [e["type"] for e in events] == ["speech.audio.delta", "error"]
    assert events[-1]["error"]["message"] == "synthesis failed: vocoder ran out of memory"
    assert len(lines.lines) == 1 and "error event sent" in lines.lines[0]


def test_a_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"serve.port={port}: 127.0.0.1:{port} is "
                                              "already in use"):
            listen("127.0.0.1", port)


def test_task_serve_on_a_busy_port_says_so_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from avbench import runner
    from tests.load.test_scenarios_cli import compose_run

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.run(compose_run(tmp_path, tmp_path / "cache", "task=serve",
                                       "pipeline=tts", f"serve.port={port}"))
    captured = capsys.readouterr()
    assert not result.ok
    assert captured.err.strip() == (
        f"avbench: error: serve.port={port}: 127.0.0.1:{port} is already in use (another "
        f"server is listening there); stop it or choose another port (serve.port={port + 1})")
    assert "serving" not in captured.out
