"""The parity reference's cache key follows the model's code: edited code is a new reference,
never the stale outputs of the old code."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from avbench.evaluators import parity_reference as parity

NET = '''
import torch
from toyref.ops import scale
from avbench.pipelines.base import Component, Pipeline, Stage


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, x):
        return scale(x) * self.weight


class ToyPipe(Pipeline):
    parity_by_stage = True

    def __init__(self) -> None:
        super().__init__(torch.device("cpu"), sample_rate=100)
        self.components = {"net": Component("net", Net(), lambda n: (torch.zeros(n),))}
        self.stages = [Stage("net", self._net, ("net",), ("output",))]

    def _net(self, state):
        state["output"] = self.components["net"](state["input"])
'''


@pytest.fixture
def toy_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A package ``toyref``: a pipeline in net.py whose module calls a helper in ops.py."""
    package = tmp_path / "toyref"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "ops.py").write_text("def scale(x):\n    return 2 * x\n")
    (package / "net.py").write_text(NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # a reload reads the edited source
    yield package
    for name in [n for n in sys.modules if n == "toyref" or n.startswith("toyref.")]:
        del sys.modules[name]


def test_edited_code_with_the_same_weights_gets_a_new_reference(toy_dir: Path,
                                                                tmp_path: Path) -> None:
    import toyref.net

    cfg = OmegaConf.create({"pipeline": {"name": "toy", "checkpoint": None},
                            "preset": {"name": "tiny"}})
    audio, device, cache = torch.arange(4.0), torch.device("cpu"), tmp_path / "references"

    def reference(pipe) -> tuple[dict, bool]:
        return parity.reference_outputs(cfg, audio, device, cache, type(pipe), pipe)

    pipe = toyref.net.ToyPipe()
    first, hit = reference(pipe)
    assert not hit and torch.equal(first["output"], 2 * audio)
    assert reference(toyref.net.ToyPipe())[1]  # same code, same weights: from the cache
    (toy_dir / "ops.py").write_text("def scale(x):\n    return x * 3.0\n")  # the helper edited
    importlib.reload(sys.modules["toyref.ops"])
    edited = importlib.reload(toyref.net).ToyPipe()
    assert parity.model_fields(edited)["weights_sha256"] == parity.model_fields(pipe)[
        "weights_sha256"]  # only the code differs
    outputs, hit = reference(edited)
    assert not hit, "the reference of the edited code came from the cache (stale)"
    assert torch.equal(outputs["output"], 3 * audio)
    _, failures = parity.check(edited, edited.run(audio).state, outputs,
                               OmegaConf.create({"max_rel_l2": 1e-6, "min_cosine": None,
                                                 "min_snr_db": None}))
    assert failures == []
