"""The speech server over real HTTP (uvicorn on loopback, requests as the client), and the
load client's failure reasons."""

from collections.abc import Iterator

import pytest
import requests
import torch

from avbench.audio.texts import encode_text
from avbench.load.http import http_work
from avbench.pipelines.tts import TTSPipeline
from avbench.serve.app import create_app
from avbench.serve.audio import STREAMING_SIZE, wav_seconds
from avbench.serve.server import BackgroundServer, free_port

TINY = {"hidden": 64, "encoder_layers": 1, "decoder_layers": 1, "filter_channels": 128}
TEXT = "Glue the sheet."


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, TTSPipeline]]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    pipe = TTSPipeline(TINY)
    with BackgroundServer(create_app(pipe, "tts", max_chars=40)) as url:
        yield url, pipe
    torch.set_num_threads(threads)


def speech(url: str, **body: object) -> requests.Response:
    return requests.post(f"{url}/v1/audio/speech", json={"model": "tts", **body}, timeout=120,
                         stream=bool(body.get("stream")))


def test_health(server: tuple[str, TTSPipeline]) -> None:
    url, _ = server
    assert requests.get(f"{url}/health", timeout=10).json() == {
        "status": "ok", "model": "tts", "sample_rate": 22050}


def test_wav_matches_the_pipeline(server: tuple[str, TTSPipeline]) -> None:
    url, pipe = server
    reply = speech(url, input=TEXT, response_format="wav")
    assert reply.status_code == 200 and reply.headers["content-type"] == "audio/wav"
    samples = pipe.run(encode_text(TEXT)).audio.shape[-1]
    assert wav_seconds(reply.content) == pytest.approx(samples / 22050)


def test_streamed_pcm_is_the_whole_utterance(server: tuple[str, TTSPipeline]) -> None:
    url, pipe = server
    samples = pipe.run(encode_text(TEXT)).audio.shape[-1]
    with speech(url, input=TEXT, response_format="pcm", stream=True) as reply:
        assert reply.status_code == 200 and reply.headers["X-Sample-Rate"] == "22050"
        chunks = [c for c in reply.iter_content(chunk_size=None) if c]
    assert len(chunks) >= 1 and sum(map(len, chunks)) == 2 * samples


def test_streamed_wav_starts_with_an_open_ended_header(server: tuple[str, TTSPipeline]) -> None:
    url, _ = server
    with speech(url, input=TEXT, response_format="wav", stream=True) as reply:
        head = next(reply.iter_content(chunk_size=44))
    assert head[:4] == b"RIFF" and int.from_bytes(head[4:8], "little") == STREAMING_SIZE


@pytest.mark.parametrize(("body", "detail"), [
    ({"input": "  "}, "input is empty"),
    ({"input": "x" * 41}, "over the model's limit of 40"),
    ({"input": TEXT, "response_format": "mp3"}, "use wav or pcm"),
])
def test_bad_requests_are_400_with_a_reason(server: tuple[str, TTSPipeline], body: dict,
                                            detail: str) -> None:
    reply = speech(server[0], **body)
    assert reply.status_code == 400 and detail in reply.json()["detail"]


def test_missing_input_is_422(server: tuple[str, TTSPipeline]) -> None:
    assert speech(server[0]).status_code == 422


def test_load_client_records_success_and_failures(server: tuple[str, TTSPipeline]) -> None:
    url, _ = server
    firsts: list[int] = []
    ok = http_work(url, [TEXT], streaming=True, timeout_s=120, model="tts")(
        0, lambda: firsts.append(1))
    assert ok.ok and ok.audio_s > 0 and ok.ttfa_ms is not None and firsts == [1]
    assert 0 < ok.ttfa_ms <= ok.latency_ms
    too_long = http_work(url, ["y" * 50], streaming=False, timeout_s=120, model="tts")(
        0, lambda: None)
    assert not too_long.ok and too_long.error.startswith("HTTP 400")
    refused = http_work(f"http://127.0.0.1:{free_port()}", [TEXT], streaming=False,
                        timeout_s=5, model="tts")(0, lambda: None)
    assert not refused.ok and refused.error == "connection failed: connection refused"


def test_load_client_rejects_malformed_audio() -> None:
    from fastapi import FastAPI
    from fastapi.responses import Response

    # A server that answers 200 with bytes that are not audio.
    liar = FastAPI()
    liar.post("/v1/audio/speech")(lambda: Response(b"not a wav", media_type="audio/wav"))
    with BackgroundServer(liar) as liar_url:
        record = http_work(liar_url, [TEXT], streaming=False, timeout_s=10, model="x")(
            0, lambda: None)
    assert not record.ok and record.error.startswith("malformed audio: not a WAV file")


def test_load_client_refuses_a_url_that_is_not_http() -> None:
    from avbench.runtime import ConfigError

    with pytest.raises(ConfigError, match="is not an http"):
        http_work("ftp://127.0.0.1:21", [TEXT], streaming=False, timeout_s=5, model="x")
