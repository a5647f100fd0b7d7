"""kernel='triton' in the DSP modules (interpreter on CPU) against kernel='torch'."""

from __future__ import annotations

import numpy as np
import torch

from avbench.audio.synth import generate_song
from avbench.dsp.modules import LogMel, YinPitch
from avbench.metrics.quality import pitch_metrics

SR = 16000


def test_log_mel_module_triton_matches_torch_with_batch_and_fp16(device):
    audio = torch.randn(2, 1, 1601, generator=torch.Generator().manual_seed(4)).to(device)
    triton = LogMel(SR, n_fft=256, hop_length=80, n_mels=32, kernel="triton").to(device)
    torch_path = LogMel(SR, n_fft=256, hop_length=80, n_mels=32, kernel="torch").to(device)
    assert triton.dft_cos.shape == (256, 129) and "dft_cos" not in triton.state_dict()
    expected = torch_path(audio)
    torch.testing.assert_close(triton(audio), expected, rtol=0, atol=1e-4)
    torch.testing.assert_close(triton(audio.half()), torch_path(audio.half().float()),
                               rtol=0, atol=2e-2)


def test_yin_module_triton_on_the_labelled_song(device):
    # A short labelled song; the interpreter makes every frame cost ~0.1 s.
    song = generate_song(0.6, SR, seed=2, hop_length=400)
    vocals = torch.from_numpy(song.vocals).to(device)
    args = (SR, 1024, 400, 70.0, 800.0)
    f0, voiced = YinPitch(*args, kernel="triton").to(device)(vocals)
    ref_f0, ref_voiced = YinPitch(*args, kernel="torch")(vocals.cpu())
    assert torch.equal(voiced.cpu(), ref_voiced)
    torch.testing.assert_close(f0.cpu(), ref_f0, rtol=1e-4, atol=0)
    metrics = pitch_metrics(f0, voiced, song.f0_hz, song.voiced)
    assert song.voiced.sum() >= 5
    assert metrics["pitch_rpa_50c"] > 0.8 and np.isfinite(metrics["pitch_rmse_hz"])
