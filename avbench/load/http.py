"""scenario=http: LoadGen (or the closed loop) drives an OpenAI-compatible speech server.

Each query is ``POST {url}/v1/audio/speech``; non-streaming asks for WAV and checks it
parses, streaming asks for PCM and times the first bytes of audio. A refused connection,
a timeout, a non-2xx answer or malformed audio is a failed request with its reason
(tag ``load.failures``), never a crash. Without ``scenario.url`` our own server runs on
loopback for the length of the run, serving the run's pipeline; ``scenario.paired=N``
then first measures HTTP's overhead over N interleaved in-process/HTTP pairs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import numpy as np

from avbench.load.work import Work
from avbench.metrics.perf import RequestRecord
from avbench.phases.context import RunContext
from avbench.phases.input import RunInput
from avbench.phases.measure import Measurement
from avbench.pipelines.base import Pipeline
from avbench.runtime import ConfigError
from avbench.serve.audio import wav_seconds

OPENAI_PCM_RATE = 24000  # what OpenAI-compatible servers send as pcm without a header


def http_work(url: str, texts: list[str], streaming: bool, timeout_s: float,
              model: str) -> Work:
    import requests

    endpoint = url.rstrip("/") + "/v1/audio/speech"
    session = requests.Session()

    def serve(index: int, on_first_audio: Callable[[], None]) -> RequestRecord:
        body = {"model": model, "input": texts[index], "voice": "default",
                "response_format": "pcm" if streaming else "wav", "stream": streaming}
        start = time.perf_counter()
        record = RequestRecord(0.0, chars=len(texts[index]))
        try:
            with session.post(endpoint, json=body, timeout=timeout_s, stream=streaming) as reply:
                if not 200 <= reply.status_code < 300:
                    raise RequestFailed(f"HTTP {reply.status_code}: {reply.text[:120]}")
                if streaming:
                    record.ttfa_ms, size = _read_stream(reply.iter_content(chunk_size=None),
                                                        start, on_first_audio)
                    if size % 2:
                        raise RequestFailed("malformed audio: odd number of PCM bytes")
                    rate = int(reply.headers.get("X-Sample-Rate", OPENAI_PCM_RATE))
                    record.audio_s = size / 2 / rate
                else:
                    try:
                        record.audio_s = wav_seconds(reply.content)
                    except ValueError as error:
                        raise RequestFailed(f"malformed audio: {error}") from None
        except RequestFailed as error:
            record.ok, record.error = False, str(error)
        except requests.Timeout:
            record.ok, record.error = False, f"timeout after {timeout_s:g} s"
        except requests.ConnectionError as error:
            record.ok, record.error = False, f"connection failed: {_reason(error)}"
        except requests.RequestException as error:
            record.ok, record.error = False, f"{type(error).__name__}: {_reason(error)}"
        record.latency_ms = (time.perf_counter() - start) * 1000.0
        if record.ok and record.audio_s <= 0:
            record.ok, record.error = False, "malformed audio: no samples"
        return record

    return serve


class RequestFailed(Exception):
    pass


def _read_stream(chunks: Iterator[bytes], start: float,
                 on_first_audio: Callable[[], None]) -> tuple[float | None, int]:
    ttfa_ms, size = None, 0
    for chunk in chunks:
        if chunk and ttfa_ms is None:
            ttfa_ms = (time.perf_counter() - start) * 1000.0
            on_first_audio()
        size += len(chunk)
    return ttfa_ms, size


def _reason(error: Exception) -> str:
    text = str(error)
    return "connection refused" if "refused" in text.lower() else text.splitlines()[0][:120]


def paired_overhead(pipe: Pipeline, work: Work, texts: list[str],
                    pairs: int) -> dict[str, float]:
    """HTTP's added latency: each utterance in process, then through the server, one at a
    time, interleaved so that the machine's drift hits both alike (non-streaming)."""
    from avbench.audio.texts import encode_text

    in_process, over_http = [], []
    for index in range(pairs):
        sample = index % len(texts)
        start = time.perf_counter()
        pipe.run(encode_text(texts[sample]).to(pipe.device))
        in_process.append((time.perf_counter() - start) * 1000.0)
        record = work(sample, lambda: None)
        if not record.ok:
            raise RuntimeError(f"a paired request to our server failed: {record.error}")
        over_http.append(record.latency_ms)
    local, remote = np.asarray(in_process), np.asarray(over_http)
    return {"http.overhead_pct": float(100.0 * (np.median(remote / local) - 1.0)),
            "http.overhead_ms.p50": float(np.median(remote - local)),
            "http.in_process_ms.p50": float(np.median(local)),
            "http.latency_ms.p50": float(np.median(remote))}


class HttpScenario:
    name = "http"

    def run(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput) -> Measurement:
        from avbench.load.scenarios import closed_loop_levels, loadgen_measurement

        sc = ctx.cfg.scenario
        if run_input.texts is None:
            raise ConfigError("scenario=http sends texts; use a text pipeline (pipeline=tts)")
        if sc.driver not in ("single_stream", "offline", "server", "concurrency"):
            raise ConfigError(f"scenario.driver={sc.driver} is not one of single_stream, "
                              "offline, server, concurrency")
        with self._server(ctx, pipe) as url:
            work = http_work(url, run_input.texts, bool(sc.streaming), float(sc.timeout_s),
                             ctx.cfg.pipeline.name)
            ctx.set_tags({"http.url": url, "http.server": "ours" if not sc.url else "external",
                          "http.driver": sc.driver})
            warm = work(0, lambda: None)
            if not warm.ok and not sc.url:
                raise RuntimeError(f"the warm-up request to our server failed: {warm.error}")
            overhead = (paired_overhead(pipe, work, run_input.texts, int(sc.paired))
                        if sc.paired and not sc.url else {})
            if sc.driver == "concurrency":
                measured = closed_loop_levels(ctx, work, len(run_input.texts))
            else:
                measured = loadgen_measurement(ctx, sc.driver, work, len(run_input.texts))
        if overhead:
            measured.metrics |= overhead
            measured.lines.append(("HTTP overhead", (
                f"{overhead['http.overhead_pct']:+.2f} % (median of {int(sc.paired)} paired "
                f"ratios), {overhead['http.overhead_ms.p50']:+.1f} ms median difference; "
                f"in process {overhead['http.in_process_ms.p50']:,.1f} ms")))
        return measured

    @staticmethod
    def _server(ctx: RunContext, pipe: Pipeline) -> contextlib.AbstractContextManager[str]:
        url = ctx.cfg.scenario.url
        if url:
            return contextlib.nullcontext(str(url))
        from avbench.serve.app import create_app
        from avbench.serve.server import BackgroundServer

        app = create_app(pipe, ctx.cfg.pipeline.name, int(ctx.cfg.pipeline.max_chars))
        return BackgroundServer(app)
