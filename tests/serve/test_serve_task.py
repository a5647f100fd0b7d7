"""task=serve through the real command line: it listens where serve.* says and answers."""

import time
from pathlib import Path

import pytest
import requests

from avbench.serve.audio import wav_seconds
from avbench.serve.server import free_port
from tests.conftest import start_cli

TINY_TTS = ("pipeline=tts", "text=short", "bench.threads=1", "pipeline.settings.hidden=64",
            "pipeline.settings.encoder_layers=1", "pipeline.settings.decoder_layers=1",
            "pipeline.settings.filter_channels=128")


@pytest.mark.slow
def test_serve_task_answers_over_http(tmp_path: Path) -> None:
    port = free_port()
    proc = start_cli("task=serve", *TINY_TTS, f"serve.port={port}", "tracking=none",
                     cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            try:
                health = requests.get(f"{url}/health", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the server did not start in 300 s"
                time.sleep(0.5)
        assert health.json()["model"] == "tts"
        reply = requests.post(f"{url}/v1/audio/speech", timeout=120,
                              json={"model": "tts", "voice": "default",
                                    "input": "Help the woman.", "response_format": "wav"})
        assert reply.status_code == 200 and wav_seconds(reply.content) > 0.2
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_serve_task_refuses_an_svc_pipeline(tmp_path: Path) -> None:
    from avbench import runner
    from tests.load.test_scenarios_cli import compose_run

    result = runner.run(compose_run(tmp_path, tmp_path / "cache", "task=serve"))
    assert not result.ok and "task=serve serves a text-to-speech pipeline" in result.error
