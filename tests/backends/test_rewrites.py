"""Export rewrites: the polyphase form of ConvTranspose1d is the same function, on a copy."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch
from torch import nn

from avbench.backends.export import export_onnx
from avbench.backends.rewrites import PolyphaseConvTranspose1d, eligible, for_export
from avbench.models.vocoder import HiFiGANGenerator, hifigan_config
from tests.backends.components import svc_components

# (in, out, kernel, stride, padding, bias): HiFi-GAN's upsamplers (k = 2s, padding (k-s)/2),
# a single tap (k = s), three taps, no padding, no bias.
CASES = [(6, 4, 16, 8, 4, True), (5, 3, 4, 2, 1, True), (4, 4, 3, 3, 0, True),
         (3, 5, 6, 2, 2, False), (2, 2, 8, 4, 0, True)]


@pytest.mark.parametrize(("c_in", "c_out", "kernel", "stride", "padding", "bias"), CASES)
@pytest.mark.parametrize("length", [1, 2, 7, 33])
def test_polyphase_equals_the_transposed_convolution(c_in, c_out, kernel, stride, padding, bias,
                                                     length) -> None:
    torch.manual_seed(length)
    conv = nn.ConvTranspose1d(c_in, c_out, kernel, stride, padding, bias=bias).double()
    x = torch.randn(2, c_in, length, dtype=torch.float64)
    expected = conv(x)
    got = PolyphaseConvTranspose1d(conv)(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("conv", [
    nn.ConvTranspose1d(4, 4, 4, 2, 1, groups=2),
    nn.ConvTranspose1d(4, 4, 4, 2, 1, output_padding=1),
    nn.ConvTranspose1d(4, 4, 4, 2, 1, dilation=2),
    nn.ConvTranspose1d(4, 4, 5, 2, 2),      # kernel not a multiple of the stride
    nn.ConvTranspose1d(4, 4, 3, 1, 1),      # stride 1: already a convolution
    nn.ConvTranspose2d(4, 4, 4, 2, 1),
], ids=["groups", "output-padding", "dilation", "odd-kernel", "stride-1", "2d"])
def test_other_transposed_convolutions_are_left_alone(conv: nn.Module) -> None:
    assert not eligible(conv)
    assert type(for_export(nn.Sequential(conv))[0]) is type(conv)
    if isinstance(conv, nn.ConvTranspose1d):
        with pytest.raises(ValueError, match="no polyphase form"):
            PolyphaseConvTranspose1d(conv)


@pytest.mark.parametrize("config", ["v1", "v2", "v3"])
def test_every_hifigan_upsampler_is_rewritten_on_a_copy(config: str) -> None:
    torch.manual_seed(0)
    vocoder = HiFiGANGenerator(hifigan_config(config))
    vocoder.remove_weight_norm()
    vocoder.eval()
    before = {k: v.clone() for k, v in vocoder.state_dict().items()}
    rewritten = for_export(vocoder)
    assert rewritten is not vocoder
    assert not any(isinstance(m, nn.ConvTranspose1d) for m in rewritten.modules())
    assert sum(isinstance(m, PolyphaseConvTranspose1d) for m in rewritten.modules()) == len(
        hifigan_config(config).upsample_rates)
    # The pipeline's own module is untouched.
    assert any(isinstance(m, nn.ConvTranspose1d) for m in vocoder.modules())
    assert all(torch.equal(before[k], v) for k, v in vocoder.state_dict().items())
    mel = torch.randn(1, 80, 9)
    with torch.inference_mode():
        expected, got = vocoder(mel), rewritten(mel)
    assert ((got - expected).norm() / expected.norm()).item() < 1e-5


def test_a_module_without_transposed_convolutions_is_exported_as_is() -> None:
    module = nn.Sequential(nn.Conv1d(2, 2, 3), nn.ReLU())
    assert for_export(module) is module


def test_the_exported_vocoder_graph_has_no_transposed_convolution(tmp_path: Path) -> None:
    (component,) = svc_components(torch.device("cpu"), torch.float32,
                                  names=("vocoder",)).values()
    export_onnx(component, tmp_path / "vocoder.onnx")
    ops = {node.op_type for node in onnx.load(str(tmp_path / "vocoder.onnx")).graph.node}
    assert "Conv" in ops and "ConvTranspose" not in ops
    assert any(isinstance(m, nn.ConvTranspose1d) for m in component.module.modules())
