"""Real-time streaming of a waveform pipeline (SVC): the input arrives in chunks of
``scenario.chunk_s`` at real-time pace; each chunk is processed as soon as it has
arrived, together with ``scenario.context_s`` of the input before it (the STFT, F0
window and convolutions need it), and the chunk's part of the output is kept.

Chunk k has fully arrived at a_k = (k + 1) * chunk_s after the stream starts; its
output is ready at r_k. Its latency is r_k - a_k (queueing behind a late chunk
included); it is late when r_k > a_k + chunk_s, i.e. not ready before the next chunk is
due. Jitter is the change in latency from one chunk to the next. A listener who plays
the output at a fixed delay hears it chunk_s + latency after it was sung: the added
latency.
"""

from __future__ import annotations

import time

import numpy as np

from avbench.measure.stats import DEFAULT_RULE, Omitted, SampleRule
from avbench.measure.validity import Thresholds
from avbench.metrics.perf import percentile_metrics, percentile_text
from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput
from avbench.runtime import ConfigError


def stream_metrics(latency_ms: list[float], chunk_s: float, processing_ms: list[float],
                   rule: SampleRule = DEFAULT_RULE,
                   omitted: list[Omitted] | None = None) -> dict[str, float]:
    """Per-chunk figures from the chunks' latencies (arrival to output ready); percentiles
    the chunks do not support (``rule``) are left out, appended to ``omitted``."""
    chunk_ms = chunk_s * 1000.0
    latency = np.asarray(latency_ms, dtype=float)
    metrics = {"stream.deadline_miss_pct": float(100.0 * np.mean(latency > chunk_ms)),
               "rtf": float(np.sum(processing_ms)) / (len(processing_ms) * chunk_ms)}
    metrics |= percentile_metrics("stream.chunk_ms", latency_ms, rule, omitted)
    metrics |= percentile_metrics("stream.added_latency_ms", list(latency + chunk_ms), rule,
                                  omitted)
    if len(latency) > 1:
        metrics |= percentile_metrics("stream.jitter_ms", list(np.abs(np.diff(latency))), rule,
                                      omitted)
    return metrics


class RealTimeStreaming:
    name = "streaming"

    def run(self, ctx: RunContext, pipe: Pipeline, run_input: RunInput) -> Measurement:
        sc = ctx.cfg.scenario
        if run_input.texts is not None:
            raise ConfigError("scenario=streaming streams an audio input (pipeline=svc); for "
                              "TTS use scenario=single_stream or concurrency (streaming=true)")
        audio, rate = run_input.audio, pipe.sample_rate
        chunk, context = int(sc.chunk_s * rate), int(sc.context_s * rate)
        n_chunks = audio.shape[-1] // chunk
        if n_chunks < 2:
            raise ConfigError(f"the input ({run_input.duration_s:g} s) holds fewer than two "
                              f"chunks of scenario.chunk_s={sc.chunk_s:g} s; use a longer "
                              "audio= or a shorter chunk")
        pipe.run(audio[: chunk + context])  # warm-up, untimed
        latency_ms, processing_ms = [], []
        start = time.perf_counter()
        for k in range(n_chunks):
            arrival = start + (k + 1) * sc.chunk_s
            time.sleep(max(0.0, arrival - time.perf_counter()))
            begin = time.perf_counter()
            window = audio[max(0, k * chunk - context): (k + 1) * chunk]
            output = pipe.run(window).audio
            output[-chunk:].sum().item()  # the chunk's output exists (synchronises CUDA)
            ready = time.perf_counter()
            processing_ms.append((ready - begin) * 1000.0)
            latency_ms.append((ready - arrival) * 1000.0)
        omitted: list[Omitted] = []
        metrics = stream_metrics(latency_ms, sc.chunk_s, processing_ms,
                                 Thresholds.from_config(ctx.cfg.validity).sample_rule, omitted)
        metrics["audio_duration_s"] = n_chunks * sc.chunk_s
        ctx.set_tags({"stream.chunks": n_chunks})  # chunk_s, context_s: scenario.* params
        lines = [("streaming", f"{n_chunks} chunks of {sc.chunk_s:g} s with {sc.context_s:g} s "
                               "of context, at real-time pace"),
                 ("deadline misses", f"{metrics['stream.deadline_miss_pct']:.1f} % of chunks "
                                     "not ready before the next was due"),
                 ("chunk latency", percentile_text(metrics, "stream.chunk_ms", ("p50", "p99"))
                                   + "; jitter "
                                   + percentile_text(metrics, "stream.jitter_ms", ("p99",))),
                 ("added latency", percentile_text(metrics, "stream.added_latency_ms",
                                                   ("p50", "p99")) + " (chunk + processing)"),
                 ("RTF", f"{metrics['rtf']:.3f} (processing time / audio, per chunk)")]
        return Measurement(metrics, series={"stream.chunk_ms": latency_ms}, lines=lines,
                           omitted=omitted)
