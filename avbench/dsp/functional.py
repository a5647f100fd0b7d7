"""Pure torch DSP references: power/log-mel spectrograms, and YIN pitch (from dsp.pitch).

Stateless functions in the torchaudio ``functional`` style; :mod:`avbench.dsp.modules` wraps
them in ``nn.Module`` s that build windows and filterbanks once. Everything runs on any
device and is vectorised over frames and leading batch dimensions.

Conventions (chosen to match librosa 0.11 defaults, which the tests compare against):

- frame ``i`` is centred at sample ``i * hop_length`` when ``center=True``, so a signal of
  ``T`` samples gives ``1 + T // hop_length`` frames;
- centring pads with **zeros** (librosa 0.11 ``pad_mode="constant"``), not torch's
  ``reflect`` default;
- the STFT window is a periodic Hann window (``scipy.signal.get_window("hann", n)``);
- mel filters use the Slaney mel scale and Slaney area normalisation
  (``librosa.filters.mel(htk=False, norm="slaney")``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from avbench.dsp.pitch import _as_dsp_dtype, yin
from avbench.dsp.spectral import MelPlan, chunked_log_mel, mel_plan

__all__ = ["LOG_MEL_FLOOR", "hann_window", "log_mel_spectrogram", "mel_filterbank",
           "power_spectrogram", "yin"]

# The log-mel floor: log(clamp(mel, min=LOG_MEL_FLOOR)).
LOG_MEL_FLOOR = 1e-10



def _hz_to_mel_slaney(freq_hz: Tensor) -> Tensor:
    """Slaney (Auditory Toolbox) mel scale: linear below 1 kHz, logarithmic above."""
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    linear = freq_hz / f_sp
    log_part = min_log_mel + torch.log(freq_hz.clamp(min=min_log_hz) / min_log_hz) / logstep
    return torch.where(freq_hz >= min_log_hz, log_part, linear)


def _mel_to_hz_slaney(mels: Tensor) -> Tensor:
    """Inverse of :func:`_hz_to_mel_slaney`."""
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    linear = f_sp * mels
    log_part = min_log_hz * torch.exp(logstep * (mels - min_log_mel))
    return torch.where(mels >= min_log_mel, log_part, linear)


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
) -> Tensor:
    """Triangular Slaney-scale mel filters with Slaney (constant-area) normalisation.

    Matches ``librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm="slaney")``
    (computed in float64, returned as float32).

    Returns:
        Tensor of shape ``(n_freqs, n_mels)`` with ``n_freqs = n_fft // 2 + 1``; multiply a
        power spectrogram ``(..., n_freqs, frames)`` by its transpose.
    """
    f_max = sample_rate / 2.0 if f_max is None else float(f_max)
    if not 0.0 <= f_min < f_max:
        raise ValueError(
            f"mel filterbank needs 0 <= f_min < f_max, got f_min={f_min} f_max={f_max}"
        )
    dtype = torch.float64
    fft_freqs = torch.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1, dtype=dtype)
    mel_edges = torch.linspace(
        _hz_to_mel_slaney(torch.tensor(float(f_min), dtype=dtype)).item(),
        _hz_to_mel_slaney(torch.tensor(f_max, dtype=dtype)).item(),
        n_mels + 2,
        dtype=dtype,
    )
    hz_edges = _mel_to_hz_slaney(mel_edges)
    widths = torch.diff(hz_edges)  # (n_mels + 1,)
    ramps = hz_edges[:, None] - fft_freqs[None, :]  # (n_mels + 2, n_freqs)
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = torch.clamp(torch.minimum(lower, upper), min=0.0)  # (n_mels, n_freqs)
    weights = weights * (2.0 / (hz_edges[2:] - hz_edges[:-2]))[:, None]
    return weights.T.contiguous().to(torch.float32)


def hann_window(n_fft: int, device: torch.device | str | None = None) -> Tensor:
    """Periodic Hann window of length ``n_fft`` (float32), as librosa/scipy use for STFTs."""
    return torch.hann_window(n_fft, periodic=True, dtype=torch.float32, device=device)


def _framing_input(waveform: Tensor, n_fft: int, center: bool) -> Tensor:
    """``(batch, time)`` signal in the DSP dtype, zero-padded by n_fft // 2 when centred."""
    signal = _as_dsp_dtype(waveform.reshape(-1, waveform.shape[-1]))
    if center:
        signal = F.pad(signal, (n_fft // 2, n_fft // 2))
    if signal.shape[-1] < n_fft:
        raise ValueError(
            f"signal of {waveform.shape[-1]} samples is shorter than n_fft={n_fft}; "
            "use center=True or a longer signal"
        )
    return signal


def power_spectrogram(
    waveform: Tensor,
    n_fft: int,
    hop_length: int,
    window: Tensor,
    center: bool = True,
) -> Tensor:
    """Power spectrogram ``|STFT|**2``.

    Args:
        waveform: ``(..., time)`` samples; float64 stays float64, other dtypes run in float32.
        n_fft: FFT size (also the window length).
        hop_length: samples between frames.
        window: ``(n_fft,)`` analysis window on the waveform's device.
        center: zero-pad ``n_fft // 2`` on both sides so frame ``i`` is centred at
            ``i * hop_length`` (librosa 0.11 ``pad_mode="constant"``).

    Returns:
        ``(..., n_fft // 2 + 1, frames)`` power, ``frames = 1 + time // hop_length`` when
        centred.
    """
    batch_shape = waveform.shape[:-1]
    signal = _framing_input(waveform, n_fft, center)
    spec = torch.stft(
        signal,
        n_fft,
        hop_length,
        window=window.to(signal.dtype),
        center=False,
        return_complex=True,
    )
    power = spec.real.square() + spec.imag.square()
    return power.reshape(*batch_shape, *power.shape[-2:])


def log_mel_spectrogram(
    waveform: Tensor,
    sample_rate: int,
    n_fft: int = 1024,
    hop_length: int = 256,
    n_mels: int = 80,
    f_min: float = 0.0,
    f_max: float | None = None,
    center: bool = True,
    *,
    window: Tensor | None = None,
    mel_basis: Tensor | None = None,
    plan: MelPlan | None = None,
    power: float = 2.0,
    floor: float = LOG_MEL_FLOOR,
) -> Tensor:
    """Natural-log mel spectrogram, ``log(clamp(mel, min=floor))`` of ``|STFT| ** power``.

    Equals ``np.log(np.maximum(librosa.feature.melspectrogram(y, sr, n_fft=n_fft,
    hop_length=hop_length, n_mels=n_mels, fmin=f_min, fmax=f_max, center=center), 1e-10))``
    up to float32 rounding.

    Args:
        waveform: ``(..., time)`` samples; float64 stays float64, other dtypes run in float32.
        window: prebuilt ``(n_fft,)`` window (see :func:`hann_window`); built per call if None.
        mel_basis: prebuilt ``(n_freqs, n_mels)`` filterbank (see :func:`mel_filterbank`);
            built per call if None.
        plan: ``mel_basis`` prepared by :func:`avbench.dsp.spectral.mel_plan` (made per call
            if None). Pass all three from a module so nothing is rebuilt in a timed region.
        power: 2 projects the power spectrum (librosa's default); 1 the magnitude (HiFi-GAN's
            mel: ``power=1.0, floor=1e-5``, f_max 8 kHz).
        floor: the clamp before the log.

    The work runs through :func:`avbench.dsp.spectral.chunked_log_mel`: runs of frames that
    stay in cache, and a banded mel projection.

    Returns:
        ``(..., n_mels, frames)`` log-mel features.
    """
    if window is None:
        window = hann_window(n_fft, device=waveform.device)
    if mel_basis is None:
        mel_basis = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max).to(waveform.device)
    if plan is None:
        plan = mel_plan(mel_basis.to(waveform.device))
    batch_shape = waveform.shape[:-1]
    signal = _framing_input(waveform, n_fft, center)
    log_mel = chunked_log_mel(signal, n_fft, hop_length, window, plan, floor, power)
    return log_mel.reshape(*batch_shape, *log_mel.shape[-2:])
