"""The server's plain HTTP side: health, unknown routes, whole-file formats' lengths."""

from __future__ import annotations

import io
import wave

import requests

from tests.serve.conftest import Served


def test_health_names_model_voices_and_rates(served: Served) -> None:
    assert requests.get(f"{served.url}/health", timeout=10).json() == {
        "status": "ok", "model": "tts", "sample_rate": 24000, "model_sample_rate": 22050,
        "voices": ["default"]}


def test_unknown_route_is_an_openai_error(served: Served) -> None:
    reply = requests.get(f"{served.url}/v1/voices", timeout=10)
    assert reply.status_code == 404
    assert reply.json() == {"error": {"message": "Not Found", "type": "invalid_request_error",
                                      "param": None, "code": "not_found"}}


def test_a_wav_is_whole_with_exact_sizes(served: Served) -> None:
    reply = requests.post(f"{served.url}/v1/audio/speech", timeout=120, json={
        "model": "tts", "voice": "default", "input": "Help the woman.",
        "response_format": "wav"})
    assert reply.status_code == 200 and reply.headers["content-length"] == str(
        len(reply.content))
    with wave.open(io.BytesIO(reply.content)) as handle:
        assert handle.getframerate() == 24000
        assert 44 + 2 * handle.getnframes() == len(reply.content)
