"""The parity reference's cache key: an edited model (weights or code) gets a new reference."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch

from avbench.evaluators import parity_reference as parity
from avbench.phases.build import build_pipeline
from tests.tasks.test_pipeline_task import compose_run


@pytest.mark.slow
def test_an_edited_weight_gets_a_new_reference_not_a_stale_failure(
        tmp_path: Path, asset_cache: Path) -> None:
    cfg = compose_run(tmp_path, asset_cache)
    device = torch.device("cpu")
    pipe = build_pipeline(cfg, device, torch.float32, "torch", asset_cache)
    audio = 0.1 * torch.randn(cfg.audio.sample_rate, generator=torch.Generator().manual_seed(0))
    cache = tmp_path / "references"

    def reference() -> tuple[dict, bool]:
        return parity.reference_outputs(cfg, audio, device, cache, lambda: pipe, pipe)

    first, hit = reference()
    assert not hit and reference()[1]  # cached after the first call
    with torch.no_grad():  # "edit the model": flip the sign of one weight tensor
        next(pipe.components["mel_projection"].module.parameters()).mul_(-1.0)
    edited, hit = reference()
    assert not hit, "the reference of the edited model came from the cache (stale)"
    assert not torch.equal(edited["converted_mel"], first["converted_mel"])
    _, failures = parity.check(pipe, pipe.run(audio).state, edited, cfg.precision.parity)
    assert failures == []
    # The stale reference is what the edited model would have been failed against. The
    # gate names the stage that differs; the stages after it, fed the reference's inputs,
    # pass, while their chained figures carry the error down the pipeline.
    metrics, stale = parity.check(pipe, pipe.run(audio).state, first, cfg.precision.parity)
    assert [failure.split(":")[0] for failure in stale] == ["conversion"]
    limit = cfg.precision.parity.max_rel_l2
    assert metrics["parity.vocoder.rel_l2"] <= limit < metrics["parity.chained.vocoder.rel_l2"]
    assert metrics["parity.separation.rel_l2"] == metrics["parity.chained.separation.rel_l2"]


@pytest.fixture
def toy_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package ``toymodel``: a module class in net.py that calls a helper in ops.py."""
    package = tmp_path / "toymodel"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "ops.py").write_text("def scale(x):\n    return 2 * x\n")
    (package / "net.py").write_text(
        "import torch\nfrom toymodel.ops import scale\n\n\n"
        "class Net(torch.nn.Module):\n    def forward(self, x):\n        return scale(x)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package
    for name in [n for n in sys.modules if n == "toymodel" or n.startswith("toymodel.")]:
        del sys.modules[name]


def test_the_code_key_follows_the_module_and_what_it_imports(toy_package: Path) -> None:
    import toymodel.net

    before = parity.source_digest([toymodel.net.Net()])
    assert parity.source_digest([toymodel.net.Net()]) == before
    (toy_package / "ops.py").write_text("def scale(x):\n    return 3 * x\n")
    importlib.reload(sys.modules["toymodel.ops"])
    assert parity.source_digest([toymodel.net.Net()]) != before  # a helper it imports changed
    edited = parity.source_digest([toymodel.net.Net()])
    (toy_package / "net.py").write_text((toy_package / "net.py").read_text() + "\n# edited\n")
    assert parity.source_digest([importlib.reload(toymodel.net).Net()]) != edited


def test_the_reference_is_strict_fp32_whatever_the_runs_tf32(tmp_path: Path,
                                                           asset_cache: Path) -> None:
    """Computed inside the run (whose precision.tf32 may allow TF32), the reference still
    runs in strict float32; a TF32 eager run is no longer the reference itself."""
    from avbench.pipelines.base import Pipeline, Stage
    from avbench.runtime import fp32_math, tf32_allowed

    seen: list[bool] = []
    pipe = Pipeline(torch.device("cpu"), 8000)

    def probe(state: dict) -> None:
        seen.append(tf32_allowed())
        state["output"] = 2 * state["input"]

    pipe.stages = [Stage("probe", probe, outputs=("output",))]
    cfg = compose_run(tmp_path, asset_cache, "precision.tf32=true")
    cuda = torch.device("cuda")  # only its settings are touched: the tensors stay on the CPU
    with fp32_math(cuda, tf32=True):
        outputs, _ = parity.reference_outputs(cfg, torch.ones(16), cuda, tmp_path / "refs",
                                              lambda: pipe, pipe)
        assert tf32_allowed()  # the run's own setting is back
    assert seen == [False] and torch.equal(outputs["output"], 2 * torch.ones(16))
    assert not parity.is_reference(cfg, "torch") and parity.needed(cfg, "torch")
    strict = compose_run(tmp_path, asset_cache)
    assert parity.is_reference(strict, "torch") and not strict.precision.tf32
