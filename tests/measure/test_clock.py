"""The CPU stage clock on a fake time source: stage times and an independently read total."""

from __future__ import annotations

from avbench.measure.clock import CpuClock
from tests.measure.fake_clock import FakeClock


def test_cpu_total_is_read_from_the_clock_not_summed_from_the_stages() -> None:
    time = FakeClock()
    clock = CpuClock(clock_ns=time)
    clock.start()
    time.advance(4.0)
    assert clock.mark("a") == 4.0
    time.advance(3.0)  # bookkeeping between stages: in no stage, yet in the run
    clock.restart_stage()
    time.advance(6.0)
    assert clock.mark("b") == 6.0
    time.advance(100.0)  # after the last mark: not part of the run
    assert clock.finish() == [("a", 4.0), ("b", 6.0), ("total", 13.0)]
    assert set(clock.memory_mb()) == {"a", "b"}


def test_a_second_run_starts_afresh() -> None:
    time = FakeClock()
    clock = CpuClock(clock_ns=time)
    for cost in (5.0, 2.0):
        clock.start()
        time.advance(cost)
        clock.mark("only")
        assert clock.finish() == [("only", cost), ("total", cost)]
