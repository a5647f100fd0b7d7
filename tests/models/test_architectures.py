"""Shapes, value ranges, invertibility, weight-norm folding and low precision of the models."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils import parametrize

from avbench.models import (
    ContentEncoder,
    HiFiGANGenerator,
    PitchEncoder,
    ResidualCouplingFlow,
    SpectrogramUNet,
    hifigan_config,
    remove_weight_norm,
)
from tests.models.cases import (
    CASE_IDS,
    CASES,
    FLOW_CHANNELS,
    GIN,
    LIGHT_CASE_IDS,
    LIGHT_CASES,
    N_FREQ,
    build_eval,
    voiced_f0,
)

# Relative error (max |low - fp32| / max |fp32|) allowed for each low precision.
LOW_PRECISION_TOLERANCE = {torch.float16: 0.01, torch.bfloat16: 0.05}


def _frames_for(case_name: str) -> int:
    # HiFi-GAN upsamples 256x: a short input keeps v1 quick.
    return 8 if case_name.startswith("hifigan") else 37


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_output_shape_for_odd_length_and_batch_two(case) -> None:
    model = build_eval(case)
    frames = _frames_for(case.name)
    with torch.inference_mode():
        out = model(*case.inputs(2, frames))
    assert out.shape == (2, case.out_channels, case.frames_out(frames))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_batch_items_are_independent(case) -> None:
    model = build_eval(case)
    inputs = case.inputs(2, _frames_for(case.name))
    with torch.inference_mode():
        batched = model(*inputs)
        single = model(*(x[1:2] for x in inputs))
    torch.testing.assert_close(batched[1:2], single, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("frames", [1, 3, 8, 37])
def test_separation_mask_in_unit_range_for_any_length(frames: int) -> None:
    torch.manual_seed(0)
    model = SpectrogramUNet(n_freq=N_FREQ, base_channels=4, depth=3).eval()
    with torch.inference_mode():
        mask = model(10.0 * torch.rand(2, N_FREQ, frames))
    assert mask.shape == (2, N_FREQ, frames)
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    assert mask.std() > 0  # not a constant: the input reaches the output


def test_separation_rejects_zero_depth() -> None:
    with pytest.raises(ValueError, match="depth"):
        SpectrogramUNet(n_freq=N_FREQ, depth=0)


def test_content_encoder_rejects_even_kernel() -> None:
    with pytest.raises(ValueError, match="odd"):
        ContentEncoder(kernel_size=4)


def test_pitch_features_mark_unvoiced_frames_and_normalise_log_f0() -> None:
    encoder = PitchEncoder(hidden=8, f0_min_hz=50.0, f0_max_hz=1100.0)
    f0 = torch.tensor([[0.0, 50.0, 1100.0, 2000.0, 20.0, 234.5]])
    features = encoder.features(f0)
    norm, voiced = features[0, 0], features[0, 1]
    torch.testing.assert_close(voiced, torch.tensor([0.0, 1.0, 1.0, 1.0, 1.0, 1.0]))
    # 0 for unvoiced and f0_min, 1 at f0_max, clamped outside the range.
    torch.testing.assert_close(norm[:5], torch.tensor([0.0, 0.0, 1.0, 1.0, 0.0]))
    assert 0.4 < norm[5] < 0.6  # 234.5 Hz is the geometric middle of 50-1100 Hz
    assert torch.all(features[0, :, 0] == 0)  # unvoiced: every feature zero


def test_pitch_encoder_output_depends_on_pitch() -> None:
    torch.manual_seed(0)
    encoder = PitchEncoder(hidden=16).eval()
    low = encoder(torch.full((1, 5), 110.0))
    high = encoder(torch.full((1, 5), 440.0))
    assert (low - high).abs().max() > 1e-3


def test_flow_is_invertible_and_not_identity() -> None:
    torch.manual_seed(0)
    flow = ResidualCouplingFlow(
        channels=FLOW_CHANNELS, hidden=16, n_layers=3, n_flows=3, gin_channels=GIN
    ).eval()
    x, g = torch.randn(2, FLOW_CHANNELS, 37), torch.randn(2, GIN, 1)
    with torch.inference_mode():
        z = flow(x, g, reverse=False)
        restored = flow(z, g, reverse=True)
    assert (z - x).abs().max() > 1e-2  # an identity flow would make the check vacuous
    torch.testing.assert_close(restored, x, atol=1e-4, rtol=0)


def test_flow_output_depends_on_speaker() -> None:
    torch.manual_seed(0)
    flow = ResidualCouplingFlow(
        channels=FLOW_CHANNELS, hidden=16, n_layers=2, n_flows=2, gin_channels=GIN
    ).eval()
    x = torch.randn(1, FLOW_CHANNELS, 20)
    with torch.inference_mode():
        a = flow(x, torch.randn(1, GIN, 1))
        b = flow(x, torch.randn(1, GIN, 1))
    assert (a - b).abs().max() > 1e-3


def test_hifigan_published_configs() -> None:
    v1, v2, v3 = (hifigan_config(v) for v in ("v1", "v2", "v3"))
    assert (v1.upsample_initial_channel, v2.upsample_initial_channel) == (512, 128)
    assert v1.upsample_rates == v2.upsample_rates == (8, 8, 2, 2)
    assert v1.upsample_kernel_sizes == (16, 16, 4, 4)
    assert v1.resblock == v2.resblock == "1" and v3.resblock == "2"
    assert v1.resblock_kernel_sizes == (3, 7, 11)
    assert v3.upsample_rates == (8, 8, 4) and v3.upsample_kernel_sizes == (16, 16, 8)
    assert v3.resblock_dilation_sizes == ((1, 2), (2, 6), (3, 12))
    assert {v1.hop_length, v2.hop_length, v3.hop_length} == {256}


def test_hifigan_unknown_version_names_valid_ones() -> None:
    with pytest.raises(ValueError, match="v1, v2, v3"):
        hifigan_config("v4")


def test_hifigan_output_is_bounded_waveform() -> None:
    torch.manual_seed(0)
    generator = HiFiGANGenerator(hifigan_config("v3"), n_mels=16).eval()
    assert generator.hop_length == 256
    with torch.inference_mode():
        wav = generator(torch.randn(1, 16, 5))
    assert wav.shape == (1, 1, 5 * 256)
    assert wav.abs().max() <= 1.0 and wav.std() > 0


WEIGHT_NORMED = [case for case in CASES if case.name == "flow" or case.name.startswith("hifigan")]


@pytest.mark.parametrize("case", WEIGHT_NORMED, ids=[c.name for c in WEIGHT_NORMED])
def test_remove_weight_norm_keeps_outputs(case) -> None:
    model = build_eval(case)
    inputs = case.inputs(1, 6)
    assert any(parametrize.is_parametrized(m) for m in model.modules())
    with torch.inference_mode():
        before = model(*inputs)
    model.remove_weight_norm()
    assert not any(parametrize.is_parametrized(m) for m in model.modules())
    assert not any("parametrizations" in key for key in model.state_dict())
    with torch.inference_mode():
        after = model(*inputs)
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)
    assert remove_weight_norm(model) == 0  # idempotent


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", LIGHT_CASES, ids=LIGHT_CASE_IDS)
def test_runs_in_low_precision(case, dtype: torch.dtype) -> None:
    model = build_eval(case)
    # fp16 convolutions have no fast CPU kernels: keep the vocoder input short.
    frames = 3 if case.name.startswith("hifigan") else 36
    inputs = case.inputs(2, frames)
    with torch.inference_mode():
        reference = model(*inputs)
        model.to(dtype)
        out = model(*(x.to(dtype) for x in inputs))
    assert out.dtype == dtype
    assert out.shape == reference.shape
    assert torch.isfinite(out).all()
    error = (out.float() - reference).abs().max() / reference.abs().max()
    assert error < LOW_PRECISION_TOLERANCE[dtype]


def test_pitch_features_stay_float32_in_low_precision() -> None:
    encoder = PitchEncoder(hidden=8).to(torch.bfloat16)
    f0 = voiced_f0(1, 12).to(torch.bfloat16)
    features = encoder.features(f0)
    assert features.dtype == torch.float32  # phase maths must not round in bf16
    assert torch.all(features[:, :, ::3] == 0)
    assert encoder(f0).dtype == torch.bfloat16
