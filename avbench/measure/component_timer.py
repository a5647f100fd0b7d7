"""Time spent inside each neural component of a run (what a backend executes).

A stage's time includes its DSP (STFT, mel, casts); a backend changes only the
components. While a timed run is in progress each component call is bracketed:
``perf_counter_ns`` on the CPU, a pair of CUDA events on the GPU, read after
the run's one synchronisation. ``totals`` sums the calls of one run by component.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch


class ComponentTimer:
    def __init__(self, device: torch.device,
                 clock_ns: Callable[[], int] | None = None) -> None:
        self.cuda = device.type == "cuda"
        self._now = clock_ns or time.perf_counter_ns  # the CPU's clock (a test may give one)
        self._spans: list[tuple[str, Any, Any]] = []

    def reset(self) -> None:
        self._spans.clear()

    def call(self, name: str, fn: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> Any:
        if self.cuda:
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            output = fn(*inputs)
            end.record()
            self._spans.append((name, start, end))
            return output
        start_ns = self._now()
        output = fn(*inputs)
        self._spans.append((name, start_ns, self._now()))
        return output

    def totals(self) -> dict[str, float]:
        """Milliseconds per component over this run (call after the run's synchronisation)."""
        totals: dict[str, float] = {}
        for name, start, end in self._spans:
            ms = start.elapsed_time(end) if self.cuda else (end - start) / 1e6
            totals[name] = totals.get(name, 0.0) + ms
        return totals
