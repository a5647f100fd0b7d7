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
import http.client
import json
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import numpy as np

from avbench.load.work import Work
from avbench.metrics.perf import RequestRecord
from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput
from avbench.runtime import ConfigError
from avbench.serve.audio import wav_seconds

OPENAI_PCM_RATE = 24000  # what OpenAI-compatible servers send as pcm without a header
STREAM_READ_BYTES = 65536


def http_work(url: str, texts: list[str], streaming: bool, timeout_s: float,
              model: str) -> Work:
    """One request per query over a kept-alive connection per client thread.

    The client is the standard library's ``http.client``: the load generator must add as
    little as it can to what it measures (``requests`` costs about 2 ms more per request
    than ``http.client`` on the development machine, more than the server's own HTTP
    cost)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"scenario.url={url!r} is not an http(s) URL")
    path = parts.path.rstrip("/") + "/v1/audio/speech"
    connections = threading.local()

    def connection() -> http.client.HTTPConnection:
        if getattr(connections, "open", None) is None:
            kind = (http.client.HTTPSConnection if parts.scheme == "https"
                    else http.client.HTTPConnection)
            connections.open = kind(parts.hostname, parts.port, timeout=timeout_s)
        return connections.open

    def serve(index: int, on_first_audio: Callable[[], None]) -> RequestRecord:
        body = json.dumps({"model": model, "input": texts[index], "voice": "default",
                           "response_format": "pcm" if streaming else "wav",
                           "stream": streaming})
        start = time.perf_counter()
        record = RequestRecord(0.0, chars=len(texts[index]))
        try:
            link = connection()
            link.request("POST", path, body, {"Content-Type": "application/json"})
            _read_reply(link.getresponse(), streaming, start, on_first_audio, record)
        except RequestFailed as error:
            record.ok, record.error = False, str(error)
        except TimeoutError:
            record.ok, record.error = False, f"timeout after {timeout_s:g} s"
        except ConnectionRefusedError:
            record.ok, record.error = False, "connection failed: connection refused"
        except (OSError, http.client.HTTPException) as error:
            record.ok, record.error = False, f"{type(error).__name__}: {_first_line(error)}"
        record.latency_ms = (time.perf_counter() - start) * 1000.0
        if not record.ok:
            _close(connections)  # the next request opens a fresh connection
        if record.ok and record.audio_s <= 0:
            record.ok, record.error = False, "malformed audio: no samples"
        return record

    return serve


class RequestFailed(Exception):
    pass


def _read_reply(reply: http.client.HTTPResponse, streaming: bool, start: float,
                on_first_audio: Callable[[], None], record: RequestRecord) -> None:
    """Check the status and the audio of a reply into ``record`` (RequestFailed if bad)."""
    if not 200 <= reply.status < 300:
        raise RequestFailed(f"HTTP {reply.status}: "
                            f"{reply.read().decode(errors='replace')[:120]}")
    if streaming:
        record.ttfa_ms, size = _read_stream(reply, start, on_first_audio)
        if size % 2:
            raise RequestFailed("malformed audio: odd number of PCM bytes")
        record.audio_s = size / 2 / int(reply.getheader("X-Sample-Rate", str(OPENAI_PCM_RATE)))
        return
    try:
        record.audio_s = wav_seconds(reply.read())
    except ValueError as error:
        raise RequestFailed(f"malformed audio: {error}") from None


def _read_stream(reply: http.client.HTTPResponse, start: float,
                 on_first_audio: Callable[[], None]) -> tuple[float | None, int]:
    """Read a streamed body as it arrives; the time to its first bytes and its size."""
    ttfa_ms, size = None, 0
    while chunk := reply.read1(STREAM_READ_BYTES):
        if ttfa_ms is None:
            ttfa_ms = (time.perf_counter() - start) * 1000.0
            on_first_audio()
        size += len(chunk)
    return ttfa_ms, size


def _close(connections: threading.local) -> None:
    link = getattr(connections, "open", None)
    if link is not None:
        link.close()
    connections.open = None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:120] if text else repr(error)


def paired_overhead(pipe: Pipeline, work: Work, texts: list[str],
                    pairs: int) -> dict[str, float]:
    """HTTP's added latency: each utterance in process and through the server, one at a
    time, interleaved so that the machine's drift hits both alike (non-streaming); the
    order alternates in ABBA pattern so that neither side always runs second."""
    from avbench.audio.texts import encode_text

    def in_process(sample: int) -> float:
        start = time.perf_counter()
        pipe.run(encode_text(texts[sample]).to(pipe.device))
        return (time.perf_counter() - start) * 1000.0

    def over_http(sample: int) -> float:
        record = work(sample, lambda: None)
        if not record.ok:
            raise RuntimeError(f"a paired request to our server failed: {record.error}")
        return record.latency_ms

    local, remote = np.zeros(pairs), np.zeros(pairs)
    for index in range(pairs):
        sample = index % len(texts)
        if index % 4 in (0, 3):
            local[index], remote[index] = in_process(sample), over_http(sample)
        else:
            remote[index], local[index] = over_http(sample), in_process(sample)
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
