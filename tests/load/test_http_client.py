"""The load client against our server (every format, SSE, errors) and against a second,
tiny, independent server written here with the standard library's http.server, which
answers with Content-Length or chunks, keeping the connection alive or closing it (with
``Connection: close``, or silently, as when a keep-alive timeout ends)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from avbench.audio.texts import encode_text
from avbench.load.http_client import SpeechTarget, http_work
from avbench.load.scenarios import closed_loop
from avbench.runtime import ConfigError
from avbench.serve.server import free_port
from tests.serve.conftest import Served

TEXT = "Glue the sheet."
PCM = b"\x01\x00" * 4800  # 0.2 s at 24 kHz


class Tiny(BaseHTTPRequestHandler):
    """An OpenAI-compatible speech endpoint in a few lines: pcm only, 0.2 s per request."""

    protocol_version = "HTTP/1.1"
    framing = "length"  # length | chunked | close | dropped (closed after, unannounced)
    seen_keys: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Tiny.seen_keys.append(self.headers.get("Authorization", ""))
        if request["voice"] != "alloy":
            return self._json(400, {"error": {"message": "voice must be alloy", "type":
                                              "invalid_request_error", "param": "voice",
                                              "code": "invalid_value"}})
        self.send_response(200)
        self.send_header("Content-Type", "audio/pcm")
        if self.framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (PCM[:4000], PCM[4000:]):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.framing == "close":
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(PCM)))
            # "dropped": like a server whose keep-alive timeout ended while the client idled
            self.close_connection = self.framing == "dropped"
        self.end_headers()
        self.wfile.write(PCM)

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    """A client that closes a kept-alive connection is expected here: no traceback for it
    on the terminal (a thread's output escapes pytest's capture)."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture(params=["length", "chunked", "close", "dropped"])
def tiny_server(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Handler", (Tiny,), {"framing": request.param})
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_every_framing_succeeds_on_every_request(tiny_server: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    Tiny.seen_keys.clear()
    target = SpeechTarget(tiny_server, model="any-tts", voice="alloy", api_key="sk-test")
    records, _ = closed_loop(http_work(target, [TEXT]), n_samples=1, concurrency=2,
                             requests=20)
    assert [r.error for r in records if not r.ok] == []
    assert all(r.audio_s == pytest.approx(0.2) and r.bytes == len(PCM) for r in records)
    assert all(r.status == 200 and r.ttfa_ms is not None for r in records)
    assert set(Tiny.seen_keys) == {"Bearer sk-test"}


def test_an_error_answer_is_a_failed_request_with_the_servers_message(
        tiny_server: str) -> None:
    target = SpeechTarget(tiny_server, model="any-tts", voice="nova")
    work = http_work(target, [TEXT])
    records = [work(0, lambda: None) for _ in range(3)]  # the connection stays usable
    assert [r.error for r in records] == ["HTTP 400: voice must be alloy"] * 3
    assert all(r.status == 400 for r in records)


@pytest.mark.parametrize("response_format", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
@pytest.mark.parametrize("stream_format", ["audio", "sse"])
def test_our_server_in_every_format(served: Served, response_format: str,
                                    stream_format: str) -> None:
    firsts: list[int] = []
    target = SpeechTarget(served.url, model="tts", response_format=response_format,
                          stream_format=stream_format, timeout_s=120)
    record = http_work(target, [TEXT])(0, lambda: firsts.append(1))
    assert record.ok, record.error
    assert firsts == [1] and 0 < record.ttfa_ms <= record.latency_ms
    seconds = served.pipe.run(encode_text(TEXT)).audio.shape[-1] / 22050
    assert record.audio_s == pytest.approx(seconds, abs=0.15)


def test_audio_not_in_the_asked_format_is_malformed(tiny_server: str) -> None:
    target = SpeechTarget(tiny_server, model="any-tts", voice="alloy", response_format="wav")
    record = http_work(target, [TEXT])(0, lambda: None)  # Tiny always sends raw PCM
    assert not record.ok and record.error.startswith("malformed audio: not a WAV file")


def test_refused_and_refused_input_are_failures_not_crashes(served: Served) -> None:
    refused = http_work(SpeechTarget(f"http://127.0.0.1:{free_port()}", model="tts",
                                     timeout_s=5), [TEXT])(0, lambda: None)
    assert not refused.ok and refused.error == "connection failed: connection refused"
    too_long = http_work(SpeechTarget(served.url, model="tts"), ["y" * 500])(0, lambda: None)
    assert not too_long.ok and too_long.error.startswith("HTTP 400: 'input' has 500")


def test_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ConfigError, match="is not an http"):
        http_work(SpeechTarget("ftp://127.0.0.1:21", model="x"), [TEXT])
