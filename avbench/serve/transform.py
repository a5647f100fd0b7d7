"""The pipeline's audio to what a client gets: 24 kHz mono float, at the requested speed.

FFmpeg's filters through PyAV, chunk by chunk as the pipeline makes them: ``atempo``
changes the tempo without changing the pitch (WSOLA; one instance takes 0.5 to 2.0, so
0.25 is two at 0.5 and 4.0 two at 2.0), ``aresample`` (libswresample) converts the rate.
The graph keeps its state between chunks, so the chunks join seamlessly; ``flush`` drains
what it still holds at the end of an utterance.
"""

from __future__ import annotations

import numpy as np

from avbench.serve.protocol import OUTPUT_RATE_HZ


def tempo_steps(speed: float) -> list[float]:
    """``speed`` as a product of factors in atempo's range [0.5, 2.0]."""
    if not 0.25 <= speed <= 4.0:
        raise ValueError(f"speed {speed} is outside 0.25..4.0")
    steps = []
    while speed < 0.5:
        steps.append(0.5)
        speed /= 0.5
    while speed > 2.0:
        steps.append(2.0)
        speed /= 2.0
    return [*steps, speed]


class AudioTransform:
    """Resample from ``rate_hz`` to 24 kHz and change the tempo by ``speed``, streaming."""

    def __init__(self, rate_hz: int, speed: float = 1.0) -> None:
        self.rate_hz, self.speed = int(rate_hz), float(speed)
        self.identity = self.rate_hz == OUTPUT_RATE_HZ and self.speed == 1.0
        self.graph = None if self.identity else self._graph()
        self.pts = 0

    def _graph(self) -> object:
        from av.filter import Graph

        graph = Graph()
        chain = [graph.add_abuffer(format="flt", sample_rate=self.rate_hz, layout="mono")]
        if self.speed != 1.0:
            chain += [graph.add("atempo", f"{step:.6f}") for step in tempo_steps(self.speed)]
        chain += [graph.add("aresample", str(OUTPUT_RATE_HZ)),
                  graph.add("aformat", f"sample_fmts=flt:channel_layouts=mono:"
                                       f"sample_rates={OUTPUT_RATE_HZ}"),
                  graph.add("abuffersink")]
        graph.link_nodes(*chain).configure()
        return graph

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Transform the next chunk (float samples at ``rate_hz``); what is ready now."""
        samples = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        if self.identity or not samples.size:
            return samples
        import av

        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.sample_rate, frame.pts = self.rate_hz, self.pts
        self.pts += samples.size
        self.graph.push(frame)  # type: ignore[attr-defined]
        return self._drain()

    def flush(self) -> np.ndarray:
        """The end of the utterance: whatever the filters still hold."""
        if self.identity:
            return np.zeros(0, np.float32)
        self.graph.push(None)  # type: ignore[attr-defined]
        return self._drain()

    def _drain(self) -> np.ndarray:
        import av

        out = []
        while True:
            try:
                frame = self.graph.pull()  # type: ignore[attr-defined]
            except (av.BlockingIOError, av.EOFError):
                break
            out.append(frame.to_ndarray().reshape(-1))
        return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)
