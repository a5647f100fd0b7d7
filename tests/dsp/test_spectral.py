"""The banded, chunked log-mel core against a dense projection of torch.stft power."""

from __future__ import annotations

import pytest
import torch

from avbench.dsp import functional as fn
from avbench.dsp import spectral


@pytest.mark.parametrize(("sample_rate", "n_fft", "n_mels", "block"),
                         [(22050, 1024, 80, 16), (16000, 512, 40, 7), (8000, 256, 128, 16)])
def test_blocks_cover_every_nonzero_weight(sample_rate, n_fft, n_mels, block):
    basis = fn.mel_filterbank(sample_rate, n_fft, n_mels)
    blocks = spectral.mel_blocks(basis, block)
    assert [b[:2] for b in blocks] == [(m, min(m + block, n_mels)) for m in range(0, n_mels, block)]
    for first, end, lo, hi in blocks:
        outside = torch.ones(basis.shape[0], dtype=torch.bool)
        outside[lo:hi] = False
        assert not basis[outside, first:end].any()


@pytest.mark.parametrize("chunk_bins", [16 * 129, 1 << 20])
def test_chunked_log_mel_equals_dense_projection(chunk_bins, monkeypatch):
    monkeypatch.setattr(spectral, "_CPU_CHUNK_BINS", chunk_bins)
    basis = fn.mel_filterbank(8000, 256, 64)
    basis[:, 16:32] = 0.0  # a block of empty filters: it must come out at the floor
    audio = torch.randn(3, 4001, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    window = fn.hann_window(256).double()
    power = fn.power_spectrogram(audio, 256, 64, window)
    dense = torch.log(torch.clamp(basis.double().T @ power, min=fn.LOG_MEL_FLOOR))
    signal = torch.nn.functional.pad(audio, (128, 128))
    ours = spectral.chunked_log_mel(signal, 256, 64, window, spectral.mel_plan(basis.double()),
                                    fn.LOG_MEL_FLOOR)
    assert ours.shape == dense.shape and ours.is_contiguous()
    torch.testing.assert_close(ours, dense, rtol=1e-10, atol=1e-10)
