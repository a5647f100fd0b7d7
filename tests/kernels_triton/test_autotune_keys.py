"""The STFT and mel autotuners key on the frame count (by power-of-two bucket): tiles tuned
at one length are not reused for every other length."""

from __future__ import annotations

import pytest
import torch

from avbench.dsp import functional as fn
from kernels_triton import INTERPRETED
from kernels_triton._common import frames_bucket
from kernels_triton.mel import (
    _banded_log_mel_kernel,
    _fused_log_mel_kernel,
    log_mel,
    mel_bands,
    mel_from_power,
)
from kernels_triton.stft import _stft_power_kernel, dft_bases, n_frames_of, stft_power

SR, N_FFT, HOP, N_MELS = 16000, 64, 16, 12
KERNELS = (_stft_power_kernel, _banded_log_mel_kernel, _fused_log_mel_kernel)


def test_frame_counts_fall_in_power_of_two_buckets() -> None:
    assert [frames_bucket(n) for n in (1, 2, 3, 64, 65, 1000, 1024, 1025)] == [
        1, 2, 4, 64, 128, 1024, 1024, 2048]


def test_every_kernel_keys_on_its_frame_bucket() -> None:
    for kernel in KERNELS:
        assert "frames_bucket" in kernel.keys and "frames_bucket" in kernel.arg_names


def run_all(samples: int, device: torch.device) -> None:
    x = torch.randn(1, samples).to(device)
    window = fn.hann_window(N_FFT, device=device)
    mel_basis = fn.mel_filterbank(SR, N_FFT, N_MELS, 0.0, None).to(device)
    bases = dft_bases(window)
    stft_power(x, bases, HOP)
    log_mel(x, bases, mel_basis, HOP)
    mel_from_power(fn.power_spectrogram(x, N_FFT, HOP, window).contiguous(), mel_basis,
                   mel_bands(mel_basis))


def test_the_wrappers_pass_the_bucket_of_the_inputs_frame_count(
        monkeypatch: pytest.MonkeyPatch, device: torch.device) -> None:
    seen: dict[str, int] = {}
    for kernel in KERNELS:
        original = kernel.run

        def spy(*args, _kernel=kernel, _original=original, **kwargs):
            named = dict(zip(_kernel.arg_names, args, strict=False)) | kwargs
            seen[_kernel.base_fn.__name__] = named["frames_bucket"]
            assert named["frames_bucket"] == frames_bucket(named["n_frames"])
            return _original(*args, **kwargs)

        monkeypatch.setattr(kernel, "run", spy)
    run_all(1000, device)
    expected = frames_bucket(n_frames_of(1000, N_FFT, HOP, True))  # 63 frames
    assert seen == {k.base_fn.__name__: expected for k in KERNELS} and expected == 64


@pytest.mark.gpu
@pytest.mark.skipif(INTERPRETED or not torch.cuda.is_available(),
                    reason="autotuning happens with compiled kernels on a CUDA GPU (the "
                           "interpreter has one config and tunes nothing)")
def test_a_new_frame_bucket_is_tuned_and_the_same_bucket_is_not() -> None:
    cuda = torch.device("cuda")
    run_all(1000, cuda)  # 63 frames: bucket 64
    tuned = {k.base_fn.__name__: len(k.cache) for k in KERNELS}
    run_all(900, cuda)  # 57 frames: the same bucket
    assert {k.base_fn.__name__: len(k.cache) for k in KERNELS} == tuned
    run_all(4000, cuda)  # 251 frames: bucket 256
    assert {k.base_fn.__name__: len(k.cache) for k in KERNELS} == {
        name: count + 1 for name, count in tuned.items()}
