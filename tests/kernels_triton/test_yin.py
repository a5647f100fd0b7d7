"""YIN kernel against the torch reference (interpreter: few frames), and its input checks."""

from __future__ import annotations

import pytest
import torch

from avbench.dsp import functional as fn
from kernels_triton import INTERPRETED, KernelInputError
from kernels_triton.yin import MAX_GRID_X, MAX_LAGS, yin, yin_grid

SR = 8000


def _voices(samples: int, device: torch.device) -> torch.Tensor:
    """(2, samples): a clean tone and a noisy gliding tone with a silent gap."""
    t = torch.arange(samples, dtype=torch.float64) / SR
    tone = torch.sin(2 * torch.pi * 220.0 * t)
    glide = torch.sin(2 * torch.pi * (150.0 * t + 40.0 * t * t))
    glide += 0.05 * torch.randn(samples, generator=torch.Generator().manual_seed(0),
                                dtype=torch.float64)
    glide[samples // 3 : samples // 2] = 0.0
    return torch.stack([tone, glide]).float().to(device)


@pytest.mark.parametrize(("samples", "frame_length", "hop", "fmin", "fmax"),
                         [(1201, 256, 100, 60.0, 1000.0), (999, 200, 77, 80.0, 900.0)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_yin_matches_torch(samples, frame_length, hop, fmin, fmax, dtype, device):
    x = _voices(samples, device).to(dtype)
    f0, voiced = yin(x, SR, frame_length, hop, fmin, fmax, 0.1)
    ref_f0, ref_voiced = fn.yin(x.float(), SR, frame_length, hop, fmin, fmax, 0.1,
                                return_voicing=True)
    assert f0.shape == voiced.shape == ref_f0.shape == (2, 1 + samples // hop)
    assert voiced.dtype == torch.bool and f0.dtype == torch.float32
    assert torch.equal(voiced, ref_voiced)
    assert voiced[0, 2:-2].all() and not voiced.all()
    # Direct sums vs the reference's FFTs: float32 rounding only (both see the same samples).
    torch.testing.assert_close(f0, ref_f0, rtol=1e-4, atol=0)


def test_yin_keeps_leading_shape_and_rows_are_independent(device):
    x = _voices(900, device)
    f0, _ = yin(x[None], SR, 256, 128, 60.0, 1000.0)
    single, _ = yin(x[1].contiguous(), SR, 256, 128, 60.0, 1000.0)
    assert f0.shape == (1, 2, 1 + 900 // 128)
    torch.testing.assert_close(f0[0, 1], single, rtol=0, atol=0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"fmin": 500.0, "fmax": 400.0}, "fmin < fmax"),
    ({"fmin": 990.0, "fmax": 1000.0}, "3 candidate"),
    ({"hop_length": 0}, "hop_length >= 1"),
])
def test_yin_rejects_bad_parameters(kwargs, message, device):
    with pytest.raises(KernelInputError, match=message):
        yin(torch.zeros(600, device=device), SR, **{"frame_length": 256, **kwargs})


def test_yin_rejects_too_many_lags_and_bad_tensors(device):
    rate = 48000
    with pytest.raises(KernelInputError, match=str(MAX_LAGS)):
        yin(torch.zeros(20000, device=device), rate, frame_length=16384, fmin=rate / 5000)
    with pytest.raises(KernelInputError, match="float32 and float16"):
        yin(torch.zeros(600, dtype=torch.float64, device=device), SR, 256)
    with pytest.raises(KernelInputError, match="contiguous"):
        yin(torch.zeros(600, 2, device=device).T, SR, 256)
    with pytest.raises(KernelInputError, match="time > 0"):
        yin(torch.zeros(2, 0, device=device), SR, 256)


CUDA_MAX_GRID_YZ = 65_535  # CUDA's limit on grid axes 1 and 2 (axis 0: 2**31 - 1)


def test_yin_grid_keeps_long_audio_on_axis_0():
    # 13 min at 22.05 kHz, hop 256: more frames than CUDA allows on grid axis 1.
    samples = 13 * 60 * 22050
    n_frames = 1 + samples // 256
    assert n_frames > CUDA_MAX_GRID_YZ
    for batch in (1, 2):
        grid = yin_grid(batch, n_frames)
        assert grid == (batch * n_frames,)  # one axis: nothing on the capped axes
    assert yin_grid(1, MAX_GRID_X) == (MAX_GRID_X,)
    with pytest.raises(KernelInputError, match="exceed CUDA"):
        yin_grid(2, MAX_GRID_X // 2 + 1)


@pytest.mark.skipif(not torch.cuda.is_available() or INTERPRETED,
                    reason="the grid limit is CUDA's: needs a GPU and compiled kernels")
def test_yin_runs_past_the_axis_1_limit_on_cuda():
    samples = 256 * (CUDA_MAX_GRID_YZ + 100)
    x = torch.sin(torch.arange(samples, device="cuda") * (2 * torch.pi * 220.0 / SR))
    f0, voiced = yin(x, SR, 256, 256, 60.0, 1000.0)
    assert f0.shape == (1 + samples // 256,)
    torch.testing.assert_close(f0[voiced].median(), torch.tensor(220.0, device="cuda"),
                               rtol=1e-2, atol=0)
