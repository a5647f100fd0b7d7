"""How one load query is served: a callable that synthesises sample ``index`` and calls
``on_first_audio()`` when its first audio exists (streaming only), returning the
request's record.

``in_process`` runs a pipeline in this process (streaming: chunk by chunk); the HTTP
client in ``load/http.py`` is the other kind. The records' latencies are the worker's
own clock; LoadGen scenarios report LoadGen's timing instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from avbench.audio.texts import encode_text
from avbench.metrics.perf import RequestRecord
from avbench.pipelines.base import Pipeline


class Work(Protocol):
    def __call__(self, index: int, on_first_audio: Callable[[], None]) -> RequestRecord: ...


def in_process(pipe: Pipeline, texts: list[str], streaming: bool) -> Work:
    """Serve ``texts[index]`` with ``pipe`` (a TTS pipeline); a failure is a failed record."""
    encoded = [encode_text(text).to(pipe.device) for text in texts]

    def serve(index: int, on_first_audio: Callable[[], None]) -> RequestRecord:
        record = RequestRecord(0.0, chars=len(texts[index]), sent_s=time.perf_counter())
        try:
            if streaming:
                samples = 0
                for chunk in pipe.stream(encoded[index]):  # type: ignore[attr-defined]
                    if record.first_audio_s is None:
                        record.first_audio_s = time.perf_counter()
                        record.ttfa_ms = (record.first_audio_s - record.sent_s) * 1000.0
                        on_first_audio()
                    samples += chunk.shape[-1]
            else:
                samples = pipe.run(encoded[index]).audio.shape[-1]
            record.audio_s = samples / pipe.sample_rate
        except Exception as error:  # a failed request is a result, not a crash
            record.ok, record.error = False, f"{type(error).__name__}: {error}"[:200]
        record.end_s = time.perf_counter()
        record.latency_ms = (record.end_s - record.sent_s) * 1000.0
        return record

    return serve
