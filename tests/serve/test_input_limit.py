"""The speech endpoint's input limit at its edge, over real HTTP: an input of exactly
``max_chars`` characters is spoken, one more is refused with a 400 naming the limit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import torch

from avbench.pipelines.tts import TTSPipeline
from avbench.serve.app import create_app
from avbench.serve.server import BackgroundServer

TINY = {"hidden": 32, "encoder_layers": 1, "decoder_layers": 1, "filter_channels": 64}
LIMIT = 12


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with BackgroundServer(create_app(TTSPipeline(TINY), "tts", LIMIT)) as address:
            yield address
    finally:
        torch.set_num_threads(threads)


def speak(url: str, text: str) -> requests.Response:
    return requests.post(f"{url}/v1/audio/speech", timeout=120, json={
        "model": "tts", "input": text, "voice": "default", "response_format": "wav"})


def test_an_input_of_exactly_the_limit_is_spoken(url: str) -> None:
    reply = speak(url, "a" * LIMIT)
    assert reply.status_code == 200, reply.text
    assert reply.content[:4] == b"RIFF" and len(reply.content) > 44


def test_one_character_over_the_limit_is_refused(url: str) -> None:
    reply = speak(url, "a" * (LIMIT + 1))
    assert reply.status_code == 400
    assert f"{LIMIT + 1} characters" in reply.text and str(LIMIT) in reply.text
