"""Stage clocks: perf_counter_ns on the CPU, CUDA events on the GPU.

A clock is started before the first stage and marked after each one. On the
CPU each mark reads the time at once. On CUDA a mark only records an event
on the stream, and ``finish`` synchronises once per run and reads every
interval, so the GPU is never stalled between stages.

Each mark also reads the stage's peak memory, one window of ``memory.tracker``
per stage: on CUDA torch's allocator peak, on the CPU (Linux) the resident
high-water mark, each reset when the stage starts (see ``memory``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import torch

from avbench.measure.memory import PeakWindows, tracker


class StageClock(Protocol):
    def start(self) -> None: ...
    def mark(self, stage_name: str) -> float | None: ...
    def restart_stage(self) -> None: ...
    def finish(self) -> list[tuple[str, float]]: ...
    def memory_mb(self) -> dict[str, float]: ...


ClockNs = Callable[[], int]  # reads the time in nanoseconds (perf_counter_ns, or a test's)


class CpuClock:
    """Wall-clock stage times; ``mark`` returns the stage's milliseconds immediately. The total
    is read from the clock (first start to last mark), never summed from the stages.
    ``clock_ns`` reads the time (``time.perf_counter_ns`` unless given)."""

    def __init__(self, peaks: PeakWindows | None = None, clock_ns: ClockNs | None = None) -> None:
        self._peaks = peaks or tracker(torch.device("cpu"))
        self._now = clock_ns or time.perf_counter_ns
        self._marks: list[tuple[str, float]] = []
        self._memory: dict[str, float] = {}
        self._start_ns = self._stage_start_ns = 0

    def start(self) -> None:
        self._marks.clear()
        self._memory.clear()
        self._peaks.window()  # the first stage's memory window starts here
        self._start_ns = self._stage_start_ns = self._now()

    def mark(self, stage_name: str) -> float:
        now_ns = self._now()
        elapsed_ms = (now_ns - self._stage_start_ns) / 1e6
        self._marks.append((stage_name, elapsed_ms))
        self._end_ns = now_ns
        self._memory[stage_name] = self._peaks.window()
        # Bookkeeping above (and the caller's callback) stays out of the next stage.
        return elapsed_ms

    def restart_stage(self) -> None:
        self._stage_start_ns = self._now()

    def finish(self) -> list[tuple[str, float]]:
        return [*self._marks, ("total", (self._end_ns - self._start_ns) / 1e6)]

    def memory_mb(self) -> dict[str, float]:
        return dict(self._memory)


class CudaEventClock:
    """CUDA events recorded between stages; one synchronisation per run in ``finish``."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._peaks = tracker(device)
        self._names: list[str] = []
        self._events: list[torch.cuda.Event] = []
        self._memory: dict[str, float] = {}

    def _event(self) -> torch.cuda.Event:
        event = torch.cuda.Event(enable_timing=True)
        event.record(torch.cuda.current_stream(self.device))
        return event

    def start(self) -> None:
        self._names.clear()
        self._memory.clear()
        self._peaks.window()
        self._events = [self._event()]

    def mark(self, stage_name: str) -> None:
        self._events.append(self._event())
        self._names.append(stage_name)
        self._memory[stage_name] = self._peaks.window()
        return None

    def restart_stage(self) -> None:
        """Nothing to do: the mark started the next stage's memory window."""

    def finish(self) -> list[tuple[str, float]]:
        self._events[-1].synchronize()
        marks = [(name, start.elapsed_time(end)) for name, start, end
                 in zip(self._names, self._events[:-1], self._events[1:], strict=True)]
        return [*marks, ("total", self._events[0].elapsed_time(self._events[-1]))]

    def memory_mb(self) -> dict[str, float]:
        return dict(self._memory)


def stage_clock(device: torch.device,
                clock_ns: ClockNs | None = None) -> CpuClock | CudaEventClock:
    """CUDA events on a CUDA device, else a CPU clock reading ``clock_ns``."""
    return CudaEventClock(device) if device.type == "cuda" else CpuClock(clock_ns=clock_ns)
