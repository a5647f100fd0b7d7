"""How close a stage's output is to the fp32 eager reference's, in the measures its field uses.

The quality gate (``avbench.evaluators.quality_gate``) reads these; each is a pure function
of two outputs of the same input. Audio inputs are ``(..., samples)`` at ``sample_rate``.

- ``log_mel_distance_db``: mean |log-mel(y) - log-mel(ref)| in dB (20 log10 of the mel
  magnitude, HiFi-GAN's mel: 80 bands to 8 kHz, floor 1e-5), the figure vocoder papers
  report as "mel distance" and the one ``quality.vocoder_resynthesis_logmel_db`` uses.
- ``mr_stft_distance_db``: the same over linear-frequency STFT magnitudes at three
  resolutions (512/128, 1024/256, 2048/512), averaged: what the multi-resolution STFT
  loss of Parallel WaveGAN compares, in dB.
- ``si_sdr_db``: scale-invariant SDR of an estimate against a target (Le Roux et al. 2019).
- ``f0_agreement``: an F0 track against the reference's: RMSE in cents over frames voiced in
  both, raw pitch accuracy within 50 cents, and voicing agreement.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from avbench.dsp.functional import log_mel_spectrogram

MAGNITUDE_FLOOR = 1e-5  # HiFi-GAN's log floor: -100 dB; both sides below it count as equal
MR_STFT_RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))
CENT_TOLERANCE = 50.0
_DB = 20.0 / math.log(10.0)


def _pair(output: Tensor, reference: Tensor) -> tuple[Tensor, Tensor]:
    """Both as float32 ``(samples,)`` on the CPU, cut to the shorter."""
    y = output.detach().to("cpu", torch.float32).reshape(-1)
    ref = reference.detach().to("cpu", torch.float32).reshape(-1)
    n = min(y.numel(), ref.numel())
    if n == 0:
        raise ValueError("quality gate: empty audio output")
    return y[:n], ref[:n]


def log_mel_distance_db(output: Tensor, reference: Tensor, sample_rate: int) -> float:
    """Mean absolute log-mel difference in dB (0: identical mels)."""
    y, ref = _pair(output, reference)
    f_max = min(8000.0, sample_rate / 2)
    mels = [log_mel_spectrogram(x, sample_rate, 1024, 256, 80, 0.0, f_max, power=1.0,
                                floor=MAGNITUDE_FLOOR) for x in (y, ref)]
    return float((mels[0] - mels[1]).abs().mean()) * _DB


def mr_stft_distance_db(output: Tensor, reference: Tensor) -> float:
    """Mean absolute log-magnitude STFT difference in dB, averaged over three resolutions."""
    y, ref = _pair(output, reference)
    distances = []
    for n_fft, hop in MR_STFT_RESOLUTIONS:
        window = torch.hann_window(n_fft)
        logs = [torch.stft(x, n_fft, hop, window=window, center=True, return_complex=True)
                .abs().clamp_min(MAGNITUDE_FLOOR).log() for x in (y, ref)]
        distances.append(float((logs[0] - logs[1]).abs().mean()) * _DB)
    return sum(distances) / len(distances)


def si_sdr_db(estimate: Tensor, target: Tensor) -> float:
    """Scale-invariant SDR of ``estimate`` against ``target`` in dB (capped at 200 dB)."""
    est = estimate.detach().to("cpu", torch.float64).reshape(-1)
    tgt = target.detach().to("cpu", torch.float64).reshape(-1)
    n = min(est.numel(), tgt.numel())
    est, tgt = est[:n] - est[:n].mean(), tgt[:n] - tgt[:n].mean()
    energy = tgt.dot(tgt)
    if energy == 0:
        return math.nan
    projection = tgt * (est.dot(tgt) / energy)
    noise = (est - projection).square().sum()
    if noise == 0:
        return 200.0
    return min(200.0, 10.0 * math.log10(float(projection.square().sum() / noise)))


def f0_agreement(f0_hz: Tensor, reference_hz: Tensor) -> dict[str, float]:
    """``f0_rmse_cents`` over frames voiced (F0 > 0) in both, ``f0_rpa``: share of the
    reference's voiced frames where the track is voiced and within 50 cents, and
    ``f0_voicing_agreement``: share of frames whose voicing matches (nan when undefined)."""
    f0 = f0_hz.detach().to("cpu", torch.float64).reshape(-1)
    ref = reference_hz.detach().to("cpu", torch.float64).reshape(-1)
    n = min(f0.numel(), ref.numel())
    f0, ref = f0[:n], ref[:n]
    voiced, ref_voiced = f0 > 0, ref > 0
    both = voiced & ref_voiced
    cents = torch.full_like(ref, math.inf)
    cents[both] = 1200.0 * (f0[both] / ref[both]).log2().abs()
    n_ref = int(ref_voiced.sum())
    return {
        "f0_rmse_cents": float(cents[both].square().mean().sqrt()) if both.any() else math.nan,
        "f0_rpa": float((cents[ref_voiced] < CENT_TOLERANCE).sum()) / n_ref if n_ref else math.nan,
        "f0_voicing_agreement": float((voiced == ref_voiced).double().mean()) if n else math.nan,
    }
