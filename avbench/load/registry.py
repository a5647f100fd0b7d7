"""The load scenarios by name (``scenario=<name>``); ``repeats`` is the measure phase's own."""

from __future__ import annotations

from avbench.load.http import HttpScenario
from avbench.load.scenarios import ConcurrencySweep, LoadGenScenario
from avbench.load.streaming import RealTimeStreaming
from avbench.run_types import Scenario
from avbench.runtime import ConfigError


def load_scenario(name: str) -> Scenario:
    if name in ("single_stream", "offline", "server"):
        return LoadGenScenario(name)
    if name == "concurrency":
        return ConcurrencySweep()
    if name == "streaming":
        return RealTimeStreaming()
    if name == "http":
        return HttpScenario()
    raise ConfigError(f"unknown scenario {name!r}; valid: repeats, single_stream, offline, "
                      "server, concurrency, streaming, http")
