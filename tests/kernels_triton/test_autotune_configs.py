"""On a GPU, every autotune config of the STFT and mel kernels compiles and matches torch
(the autotuner would otherwise only ever run the configs it times fastest)."""

from __future__ import annotations

import pytest
import torch

from avbench.dsp import functional as fn
from kernels_triton import INTERPRETED
from kernels_triton import mel as mel_kernels
from kernels_triton import stft as stft_kernels

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(
    INTERPRETED or not torch.cuda.is_available(),
    reason="compiled Triton kernels need a CUDA GPU (here they run under the interpreter, "
           "with one config each)")]

SR, N_FFT, HOP, N_MELS = 16000, 256, 64, 40


def each_config(kernel, monkeypatch: pytest.MonkeyPatch):
    """The kernel's autotuner restricted to one config at a time (nothing cached across)."""
    for config in list(kernel.configs):
        monkeypatch.setattr(kernel, "configs", [config])
        monkeypatch.setattr(kernel, "cache", {})
        yield config


def test_every_stft_config_matches_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(2, 9001, device="cuda")
    window = fn.hann_window(N_FFT, device=x.device)
    reference = fn.power_spectrogram(x, N_FFT, HOP, window)
    bases = stft_kernels.dft_bases(window)
    for config in each_config(stft_kernels._stft_power_kernel, monkeypatch):
        ours = stft_kernels.stft_power(x, bases, HOP)
        torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5 * reference.max().item(),
                                   msg=lambda m, c=config: f"{c}: {m}")


def test_every_mel_config_matches_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(2, 9001, device="cuda")
    window = fn.hann_window(N_FFT, device=x.device)
    mel_basis = fn.mel_filterbank(SR, N_FFT, N_MELS, 30.0, 7000.0).to(x.device)
    reference = fn.log_mel_spectrogram(x, SR, N_FFT, HOP, N_MELS, 30.0, 7000.0)
    power = fn.power_spectrogram(x, N_FFT, HOP, window).contiguous()
    bands = mel_kernels.mel_bands(mel_basis)
    for config in each_config(mel_kernels._banded_log_mel_kernel, monkeypatch):
        ours = mel_kernels.mel_from_power(power, mel_basis, bands)
        torch.testing.assert_close(ours, reference, rtol=0, atol=1e-4,
                                   msg=lambda m, c=config: f"banded {c}: {m}")
    bases = stft_kernels.dft_bases(window)
    for config in each_config(mel_kernels._fused_log_mel_kernel, monkeypatch):
        ours = mel_kernels.log_mel(x, bases, mel_basis, HOP)
        torch.testing.assert_close(ours, reference, rtol=0, atol=1e-4,
                                   msg=lambda m, c=config: f"fused {c}: {m}")
