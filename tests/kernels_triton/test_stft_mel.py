"""STFT power and log-mel kernels against the torch reference, on small odd shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avbench.dsp import functional as fn
from kernels_triton import KernelInputError
from kernels_triton.mel import log_mel, mel_bands, mel_from_power
from kernels_triton.stft import dft_bases, stft_power

SR = 16000
# (n_fft, hop, samples, batch shape, center): odd lengths and hops, a non-power-of-2 n_fft.
SHAPES = [(64, 17, 301, (2,), True), (128, 40, 1001, (3,), False), (96, 24, 517, (2, 1), True)]


def _signal(shape: tuple[int, ...], samples: int, device: torch.device) -> torch.Tensor:
    generator = torch.Generator().manual_seed(samples)
    return torch.randn(*shape, samples, generator=generator).to(device)


@pytest.mark.parametrize(("n_fft", "hop", "samples", "batch", "center"), SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_stft_power_matches_torch(n_fft, hop, samples, batch, center, dtype, device):
    x = _signal(batch, samples, device).to(dtype)
    window = fn.hann_window(n_fft, device=device)
    ours = stft_power(x, dft_bases(window, dtype), hop, center)
    ref = fn.power_spectrogram(x.float(), n_fft, hop, window, center)
    assert ours.shape == ref.shape and ours.dtype == torch.float32
    # fp32: summation order only. fp16: the bases are rounded to 11 bits (~5e-4 relative).
    scale = ref.max().item()
    tolerance = 1e-5 if dtype == torch.float32 else 3e-3
    torch.testing.assert_close(ours, ref, rtol=0, atol=tolerance * scale)


@pytest.mark.parametrize(("n_fft", "hop", "samples", "batch", "center"), SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_fused_log_mel_matches_torch(n_fft, hop, samples, batch, center, dtype, device):
    n_mels = 20
    x = _signal(batch, samples, device).to(dtype)
    window = fn.hann_window(n_fft, device=device)
    mel_basis = fn.mel_filterbank(SR, n_fft, n_mels, 30.0, 7000.0).to(device)
    ours = log_mel(x, dft_bases(window, dtype), mel_basis, hop, center)
    ref = fn.log_mel_spectrogram(x.float(), SR, n_fft, hop, n_mels, 30.0, 7000.0, center)
    assert ours.shape == ref.shape
    # Log domain: an absolute error is a relative error of the mel power.
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-4 if dtype == torch.float32 else 2e-2)


@pytest.mark.parametrize(("n_fft", "n_mels", "f_min", "f_max"),
                         [(64, 12, 0.0, None), (256, 40, 60.0, 7600.0), (128, 64, 0.0, None)])
def test_banded_log_mel_matches_torch(n_fft, n_mels, f_min, f_max, device):
    x = _signal((2,), 777, device)
    window = fn.hann_window(n_fft, device=device)
    mel_basis = fn.mel_filterbank(SR, n_fft, n_mels, f_min, f_max).to(device)
    power = fn.power_spectrogram(x, n_fft, 33, window)
    ours = mel_from_power(power.contiguous(), mel_basis, mel_bands(mel_basis))
    ref = fn.log_mel_spectrogram(x, SR, n_fft, 33, n_mels, f_min, f_max)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-4)


def test_mel_bands_cover_every_nonzero_weight():
    mel_basis = fn.mel_filterbank(22050, 1024, 80)
    lo, hi = mel_bands(mel_basis)
    bins = torch.arange(mel_basis.shape[0])[:, None]
    inside = (bins >= lo[None, :].long()) & (bins < hi[None, :].long())
    assert not (mel_basis.ne(0) & ~inside).any()
    assert torch.all(lo[1:] >= lo[:-1]) and torch.all(hi[1:] >= hi[:-1])
    # The point of banding: far fewer bins than the full spectrum per mel.
    assert (hi - lo).float().mean() < 0.1 * mel_basis.shape[0]


def test_silence_is_the_log_floor(device):
    window = fn.hann_window(64, device=device)
    mel_basis = fn.mel_filterbank(SR, 64, 10).to(device)
    out = log_mel(torch.zeros(200, device=device), dft_bases(window), mel_basis, 16)
    assert torch.all(out == np.float32(np.log(fn.LOG_MEL_FLOOR)))


def _bad_stft_call(case: str, device: torch.device) -> None:
    window = fn.hann_window(64, device=device)
    bases = dft_bases(window)
    x = torch.randn(2, 300, device=device)
    if case == "dtype":
        stft_power(x.double(), bases, 16)
    elif case == "contiguous":
        stft_power(x.T, bases, 16)
    elif case == "bases_shape":
        stft_power(x, (bases[0], dft_bases(fn.hann_window(32, device=device))[1]), 16)
    elif case == "bases_dtype":
        stft_power(x.half(), bases, 16)
    elif case == "too_short":
        stft_power(x[:, :40].contiguous(), bases, 16, center=False)
    elif case == "n_fft":
        stft_power(x, dft_bases(fn.hann_window(8, device=device)), 4)
    elif case == "too_many_mels":
        log_mel(x, bases, torch.zeros(33, 300, device=device), 16)
    elif case == "filterbank_shape":
        log_mel(x, bases, torch.zeros(20, 10, device=device), 16)


@pytest.mark.parametrize(("case", "message"), [
    ("dtype", "float32 and float16"), ("contiguous", "contiguous"),
    ("bases_shape", r"\(64, 33\)"), ("bases_dtype", "dft_bases"), ("too_short", "center=True"),
    ("n_fft", "n_fft >= 16"), ("too_many_mels", "at most 256"), ("filterbank_shape", "n_mels"),
])
def test_wrapper_rejects_bad_input_clearly(case, message, device):
    with pytest.raises(KernelInputError, match=message):
        _bad_stft_call(case, device)


def test_cpu_tensor_without_interpreter_is_a_clear_error(monkeypatch):
    import kernels_triton._common as common

    monkeypatch.setattr(common, "INTERPRETED", False)
    window = fn.hann_window(64)
    with pytest.raises(KernelInputError, match="kernel=torch on the CPU"):
        stft_power(torch.randn(300), dft_bases(window), 16)
