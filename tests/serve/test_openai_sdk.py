"""The speech server through the official ``openai`` package, as a user's client sees it."""

from __future__ import annotations

import base64
import io
import json
import time

import av
import numpy as np
import openai
import pytest
import soundfile as sf

from avbench.audio.texts import HARVARD, encode_text
from tests.serve.conftest import MAX_CHARS, Served

TEXT = "Glue the sheet to the dark blue background."
FOUR_SENTENCES = " ".join(HARVARD[:4])


def speak(served: Served, **kwargs: object) -> bytes:
    body = {"model": "tts", "voice": "default", "input": TEXT} | kwargs
    return served.client().audio.speech.create(**body).content


def pipeline_seconds(served: Served, text: str = TEXT) -> float:
    return served.pipe.run(encode_text(text)).audio.shape[-1] / served.pipe.sample_rate


def decode(data: bytes, response_format: str) -> tuple[int, float]:
    """(sample rate, seconds) of an encoded response, read by soundfile or PyAV."""
    if response_format == "pcm":
        return 24000, len(data) / 2 / 24000
    if response_format == "aac":  # ADTS: libsndfile has no AAC, FFmpeg does
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.audio[0]
            samples = sum(frame.samples for frame in container.decode(stream))
            return stream.codec_context.sample_rate, samples / stream.codec_context.sample_rate
    audio, rate = sf.read(io.BytesIO(data))
    return rate, len(audio) / rate


def test_models_list_names_the_served_model(served: Served) -> None:
    client = served.client()
    assert [m.id for m in client.models.list()] == ["tts"]
    assert client.models.retrieve("tts").owned_by == "avbench"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("tts-1")
    assert caught.value.code == "model_not_found"


@pytest.mark.parametrize("response_format", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_every_format_decodes_at_24_khz(served: Served, response_format: str) -> None:
    rate, seconds = decode(speak(served, response_format=response_format), response_format)
    assert rate == 24000
    # mp3 and aac add their encoder's delay (a few frames) to the decoded length
    assert seconds == pytest.approx(pipeline_seconds(served), abs=0.15)


def test_mp3_is_the_default(served: Served) -> None:
    reply = served.client().audio.speech.with_raw_response.create(
        model="tts", voice="default", input=TEXT)
    assert reply.headers["content-type"] == "audio/mpeg"
    assert reply.content[:2] in (b"\xff\xf3", b"\xff\xfb", b"ID")


def test_pcm_is_24_khz_whatever_the_pipeline_rate(served: Served) -> None:
    assert served.pipe.sample_rate == 22050
    pcm = np.frombuffer(speak(served, response_format="pcm"), dtype="<i2")
    expected = served.pipe.run(encode_text(TEXT)).audio.numpy()
    assert abs(len(pcm) - len(expected) * 24000 / 22050) < 24  # within a millisecond


@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_speed_changes_the_length(served: Served, speed: float) -> None:
    normal = len(speak(served, response_format="pcm"))
    changed = len(speak(served, response_format="pcm", speed=speed))
    assert changed / normal == pytest.approx(1 / speed, rel=0.03)


def test_first_audio_arrives_early_when_streamed(served: Served) -> None:
    """Four sentences: the first bytes come in under half the whole response's time."""
    start = time.perf_counter()
    arrivals = []
    with served.client().audio.speech.with_streaming_response.create(
            model="tts", voice="default", input=FOUR_SENTENCES) as reply:
        for chunk in reply.iter_bytes():
            arrivals.append((time.perf_counter() - start, len(chunk)))
    total = time.perf_counter() - start
    assert len(arrivals) > 4
    assert arrivals[0][0] < 0.5 * total


def test_sse_deltas_are_the_pcm_response(served: Served) -> None:
    pcm = speak(served, response_format="pcm", input=FOUR_SENTENCES)
    with served.client().audio.speech.with_streaming_response.create(
            model="tts", voice="default", input=FOUR_SENTENCES, response_format="pcm",
            stream_format="sse") as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        text = reply.read().decode()
    events = [json.loads(line[len("data: "):]) for line in text.splitlines()
              if line.startswith("data: ")]
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    assert len(deltas) > 1 and events[-1]["type"] == "speech.audio.done"
    assert b"".join(base64.b64decode(e["audio"]) for e in deltas) == pcm
    usage = events[-1]["usage"]
    assert usage["input_tokens"] == len(FOUR_SENTENCES)
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


@pytest.mark.parametrize(("change", "error", "code", "param"), [
    ({"voice": "alloy"}, openai.BadRequestError, "invalid_value", "voice"),
    ({"voice": {"id": "voice_1234"}}, openai.BadRequestError, "invalid_value", "voice"),
    ({"model": "tts-1"}, openai.NotFoundError, "model_not_found", "model"),
    ({"speed": 10.0}, openai.BadRequestError, "decimal_above_max_value", "speed"),
    ({"speed": 0.1}, openai.BadRequestError, "decimal_below_min_value", "speed"),
    ({"instructions": "Speak cheerfully."}, openai.BadRequestError, "unsupported_parameter",
     "instructions"),
    ({"input": "   "}, openai.BadRequestError, "invalid_value", "input"),
    ({"input": "x" * (MAX_CHARS + 1)}, openai.BadRequestError, "string_above_max_length",
     "input"),
    ({"input": "x" * 4097}, openai.BadRequestError, "string_above_max_length", "input"),
    ({"input": "😀"}, openai.BadRequestError, "invalid_value", "input"),
    ({"response_format": "ogg"}, openai.BadRequestError, "invalid_value", "response_format"),
    ({"stream_format": "chunks"}, openai.BadRequestError, "invalid_value", "stream_format"),
    ({"extra_body": {"stream": True}}, openai.BadRequestError, "unknown_parameter", "stream"),
])
def test_errors_are_the_sdks_typed_exceptions(served: Served, change: dict, error: type,
                                              code: str, param: str) -> None:
    body = {"model": "tts", "voice": "default", "input": TEXT} | change
    with pytest.raises(error) as caught:
        served.client().audio.speech.create(**body)
    assert caught.value.code == code and caught.value.param == param
    message = caught.value.body["message"]
    assert isinstance(message, str) and len(message) > 10 and message in str(caught.value)
    assert caught.value.type == "invalid_request_error"
