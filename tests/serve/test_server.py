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


def test_encoding_cost_is_counted_per_format(tiny_tts: object) -> None:
    from avbench.serve.protocol import SpeechRequest
    from avbench.serve.speech import EncodeStats, SpeechBody

    stats = EncodeStats()
    for response_format in ("mp3", "pcm"):
        request = SpeechRequest(model="tts", voice="default", input="Help the woman.",
                                response_format=response_format)
        body = SpeechBody(tiny_tts, "Help the woman.", request, stats)
        assert b"".join(body.body())
        assert body.samples / 24000 > 0.3 and body.encode_s > 0
    costs = stats.ms_per_audio_s()
    assert set(costs) == {"mp3", "pcm"} and all(cost > 0 for cost in costs.values())
