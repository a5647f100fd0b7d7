"""scenario=http: LoadGen (or the closed loop) drives an OpenAI-compatible speech server.

Each query is ``POST {url}/v1/audio/speech`` with ``scenario.model``, ``scenario.voice``,
``scenario.response_format`` and ``scenario.stream_format``, and the API key in the
environment variable ``scenario.api_key_env`` (load/http_client.py reads the answers).
Without ``scenario.url`` our own server runs on loopback for the length of the run,
serving the run's pipeline; ``scenario.paired=N`` then first measures HTTP's overhead over
N interleaved in-process/HTTP pairs.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

from avbench.load.http_client import SpeechTarget, api_key_from, http_work
from avbench.load.work import Work
from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput
from avbench.runtime import ConfigError

DRIVERS = ("single_stream", "offline", "server", "concurrency")


def speech_target(sc: object, url: str, pipe: Pipeline, pipeline_name: str) -> SpeechTarget:
    """What scenario.* asks of the server (model and voice: scenario.*, else the run
    pipeline's name and first voice)."""
    from avbench.serve.speech import served_voices

    voice = sc.voice or served_voices(pipe)[0]
    return SpeechTarget(url=url, model=str(sc.model or pipeline_name), voice=str(voice),
                        response_format=str(sc.response_format),
                        stream_format=str(sc.stream_format),
                        api_key=api_key_from(sc.api_key_env), timeout_s=float(sc.timeout_s))


def paired_overhead(pipe: Pipeline, work: Work, texts: list[str],
                    pairs: int) -> dict[str, float]:
    """HTTP's added latency: each utterance in process and through the server, one at a
    time, interleaved so that the machine's drift hits both alike; the order alternates in
    ABBA pattern so that neither side always runs second. In process runs what the server
    runs (``pipe.stream`` where it exists), so the difference is the server's own cost:
    HTTP, resampling to 24 kHz and encoding."""
    from avbench.audio.texts import encode_text

    def in_process(sample: int) -> float:
        encoded = encode_text(texts[sample]).to(pipe.device)
        start = time.perf_counter()
        if hasattr(pipe, "stream"):
            for _ in pipe.stream(encoded):
                pass
        else:
            pipe.run(encoded)
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
        from avbench.load.loadgen_scenario import loadgen_measurement
        from avbench.load.scenarios import closed_loop_levels

        sc = ctx.cfg.scenario
        if run_input.texts is None:
            raise ConfigError("scenario=http sends texts; use a text pipeline (pipeline=tts)")
        if sc.driver not in DRIVERS:
            raise ConfigError(f"scenario.driver={sc.driver} is not one of {', '.join(DRIVERS)}")
        app = None if sc.url else self._app(ctx, pipe)
        with self._server(ctx, app) as url:
            target = speech_target(sc, url, pipe, ctx.cfg.pipeline.name)
            work = http_work(target, run_input.texts)
            # what was resolved at run time; the driver and formats are scenario.* params
            ctx.set_tags({"http.url": url, "http.server": "ours" if not sc.url else "external",
                          "http.model": target.model, "http.voice": target.voice})
            warm = work(0, lambda: None)
            if not warm.ok and not sc.url:
                raise RuntimeError(f"the warm-up request to our server failed: {warm.error}")
            overhead = (paired_overhead(pipe, work, run_input.texts, int(sc.paired))
                        if sc.paired and not sc.url else {})
            if sc.driver == "concurrency":
                measured = closed_loop_levels(ctx, work, len(run_input.texts))
            else:
                measured = loadgen_measurement(ctx, sc.driver, work, len(run_input.texts),
                                               open_pool=True)
        if app is not None:  # our server: what converting and encoding cost it
            for fmt, cost in app.state.encode_stats.ms_per_audio_s().items():
                measured.metrics["http.encode_ms_per_audio_s"] = cost
                measured.lines.append(("encoding", f"{cost:.2f} ms per second of audio "
                                                   f"({fmt}, resampled to 24 kHz, on the "
                                                   "server)"))
        if overhead:
            measured.metrics |= overhead
            measured.lines.append(("HTTP overhead", (
                f"{overhead['http.overhead_pct']:+.2f} % (median of {int(sc.paired)} paired "
                f"ratios), {overhead['http.overhead_ms.p50']:+.1f} ms median difference; "
                f"in process {overhead['http.in_process_ms.p50']:,.1f} ms")))
        return measured

    @staticmethod
    def _app(ctx: RunContext, pipe: Pipeline) -> object:
        from avbench.serve.app import create_app

        return create_app(pipe, ctx.cfg.pipeline.name, int(ctx.cfg.pipeline.max_chars))

    @staticmethod
    def _server(ctx: RunContext, app: object) -> contextlib.AbstractContextManager[str]:
        if app is None:
            return contextlib.nullcontext(str(ctx.cfg.scenario.url))
        from avbench.serve.server import BackgroundServer

        return BackgroundServer(app)
