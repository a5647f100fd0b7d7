"""One tiny TTS pipeline served on loopback for the whole session (uvicorn, real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import torch

from avbench.pipelines.tts import TTSPipeline
from avbench.serve.app import create_app
from avbench.serve.server import BackgroundServer

TINY = {"hidden": 64, "encoder_layers": 1, "decoder_layers": 1, "filter_channels": 128}
MAX_CHARS = 200


@dataclass
class Served:
    url: str
    pipe: TTSPipeline

    def client(self) -> object:
        from openai import OpenAI

        return OpenAI(base_url=f"{self.url}/v1", api_key="not-checked", max_retries=0,
                      timeout=120)


@pytest.fixture(scope="session")
def tiny_tts() -> TTSPipeline:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield TTSPipeline(TINY)
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def served(tiny_tts: TTSPipeline) -> Iterator[Served]:
    with BackgroundServer(create_app(tiny_tts, "tts", max_chars=MAX_CHARS)) as url:
        yield Served(url, tiny_tts)
