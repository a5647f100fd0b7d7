"""Which evaluators a run computes: all of them, but those ``bench.skip_evaluators`` names;
never the gate."""

from __future__ import annotations

import pytest

from avbench.phases.evaluate import GATE, check_skips, default_evaluators
from avbench.runtime import ConfigError


def test_known_names_are_skipped_and_the_gate_never() -> None:
    names = [e.name for e in default_evaluators()]
    assert GATE in names and len(names) == len(set(names))  # one name an evaluator
    assert check_skips(["dnsmos", "roofline"]) == {"dnsmos", "roofline"}
    assert check_skips([]) == set()
    with pytest.raises(ConfigError, match=r"'parity' cannot be skipped.*the parity gate always"):
        check_skips(["parity"])
    with pytest.raises(ConfigError, match=r"'dnsmoss' cannot be skipped; the evaluators that "
                                          r"can are pitch, .*roofline"):
        check_skips(["dnsmos", "dnsmoss"])
