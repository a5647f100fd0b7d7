"""The run against the eager reference, interleaved: speed-ups of known size."""

from __future__ import annotations

import pytest
import torch

from avbench.evaluators.side_by_side import side_by_side
from avbench.pipelines.calibration import CalibrationPipeline
from tests.measure.fake_clock import FakeClock, KnownCostPipeline


def known(net_ms: float, clock: FakeClock) -> KnownCostPipeline:
    """A 10 ms DSP stage and a ``net_ms`` stage that counts as neural, on a fake clock."""
    return KnownCostPipeline({"dsp": 10.0, "net": net_ms}, clock, neural=("net",))


def test_known_speedups_from_interleaved_pairs() -> None:
    clock = FakeClock()
    built: list[KnownCostPipeline] = []

    def build_eager() -> KnownCostPipeline:
        built.append(known(40.0, clock))
        return built[-1]

    result = side_by_side(known(20.0, clock), build_eager, torch.zeros(2205), pairs=5)
    assert len(built) == 1 and result.pairs == 5
    assert result.neural is not None
    assert result.neural.ratio == pytest.approx(40 / 20)
    assert result.total.ratio == pytest.approx(50 / 30)
    assert result.total.ci_low <= result.total.ratio <= result.total.ci_high
    assert result.eager_ms == pytest.approx(50) and result.run_ms == pytest.approx(30)
    metrics = result.metrics()
    assert metrics["vs_eager.neural_speedup"] == result.neural.ratio


def test_pairs_alternate_which_side_goes_first() -> None:
    """ABBA: a side that gains from going first gains in half the pairs only."""
    calls: list[str] = []

    class Logged(CalibrationPipeline):
        def run(self, audio, profiling_callback=None):
            if profiling_callback is not None:  # the eager side's cold call is untimed
                calls.append(self.name)
            return super().run(audio, profiling_callback)

    side_by_side(Logged({"a": 0.1}, name="run"), lambda: Logged({"a": 0.1}, name="eager"),
                 torch.zeros(10), pairs=4)
    assert calls == ["eager", "run", "run", "eager", "eager", "run", "run", "eager"]


def test_without_neural_stages_only_the_total_is_compared() -> None:
    clock = FakeClock()
    result = side_by_side(KnownCostPipeline({"a": 2.0}, clock),
                          lambda: KnownCostPipeline({"a": 2.0}, clock), torch.zeros(2205),
                          pairs=2)
    assert result.neural is None and "vs_eager.neural_speedup" not in result.metrics()
    assert result.total.ratio == pytest.approx(1.0)


def test_needs_two_pairs() -> None:
    with pytest.raises(ValueError, match="at least 2 pairs"):
        side_by_side(CalibrationPipeline({"a": 1.0}), lambda: CalibrationPipeline({"a": 1.0}),
                     torch.zeros(10), pairs=1)


@pytest.mark.parametrize(("overrides", "kernel", "reference"), [
    ((), "torch", True),
    (("backend=onnxruntime",), "torch", False),
    (("precision=fp16",), "torch", False),
    ((), "triton", False),
])
def test_only_fp32_eager_with_torch_kernels_is_the_reference(tmp_path, asset_cache, overrides,
                                                              kernel, reference) -> None:
    from avbench.evaluators import parity_reference as parity
    from tests.tasks.test_pipeline_task import compose_run

    cfg = compose_run(tmp_path, asset_cache, *overrides)
    assert parity.is_reference(cfg, kernel) is reference
    assert parity.needed(cfg, kernel) is not reference
