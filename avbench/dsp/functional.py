"""Pure torch DSP references: power/log-mel spectrograms and YIN pitch.

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

from avbench.dsp.autocorrelation import frame_autocorrelation_blocks, frame_autocorrelation_fft
from avbench.dsp.spectral import MelPlan, chunked_log_mel, mel_plan

# The log-mel floor: log(clamp(mel, min=LOG_MEL_FLOOR)).
LOG_MEL_FLOOR = 1e-10

# Below this block size the per-block cross-correlations of the fast YIN path get too many
# (max_lag / block of them) to beat one FFT per frame.
_MIN_YIN_BLOCK = 32
# CPU YIN works through frames in runs of about this many (frames x lags) values (~512 KiB).
_CPU_CHUNK_ELEMENTS = 1 << 17


def _as_dsp_dtype(signal: Tensor) -> Tensor:
    """float64 stays float64; everything else (ints, fp16, bf16) runs in float32.

    Half-precision FFTs lose too much for spectra and YIN troughs (and CPU has none).
    """
    return signal if signal.dtype in (torch.float32, torch.float64) else signal.float()


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
    signal = _as_dsp_dtype(waveform.reshape(-1, waveform.shape[-1]))
    if center:
        signal = F.pad(signal, (n_fft // 2, n_fft // 2))
    if signal.shape[-1] < n_fft:
        raise ValueError(
            f"signal of {waveform.shape[-1]} samples is shorter than n_fft={n_fft}; "
            "use center=True or a longer signal"
        )
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
) -> Tensor:
    """Natural-log mel power spectrogram, ``log(clamp(mel, min=1e-10))``.

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
    signal = _as_dsp_dtype(waveform.reshape(-1, waveform.shape[-1]))
    if center:
        signal = F.pad(signal, (n_fft // 2, n_fft // 2))
    if signal.shape[-1] < n_fft:
        raise ValueError(
            f"signal of {waveform.shape[-1]} samples is shorter than n_fft={n_fft}; "
            "use center=True or a longer signal"
        )
    log_mel = chunked_log_mel(signal, n_fft, hop_length, window, plan, LOG_MEL_FLOOR)
    return log_mel.reshape(*batch_shape, *log_mel.shape[-2:])


def _parabolic_shift_at(cmndf: Tensor, index: Tensor) -> Tensor:
    """Sub-lag offset of the parabola through ``cmndf`` at ``index`` and its two neighbours.

    librosa's rule: 0 at the first/last lag and wherever the optimum would lie more than one
    lag away. Evaluated only at the chosen lag of each frame, not over the whole CMNDF.
    """
    last = cmndf.shape[-1] - 1
    left = torch.gather(cmndf, -1, (index - 1).clamp(min=0)[..., None])[..., 0]
    mid = torch.gather(cmndf, -1, index[..., None])[..., 0]
    right = torch.gather(cmndf, -1, (index + 1).clamp(max=last)[..., None])[..., 0]
    curvature = right + left - 2 * mid
    slope = (right - left) / 2
    usable = (slope.abs() < curvature.abs()) & (index > 0) & (index < last)
    return torch.where(usable, -slope / torch.where(usable, curvature, 1.0), 0.0)


def _yin_frames(
    signal: Tensor,
    sample_rate: int,
    frame_length: int,
    hop_length: int,
    n_frames: int,
    min_period: int,
    max_period: int,
    threshold: float,
) -> tuple[Tensor, Tensor]:
    """YIN on the ``n_frames`` frames of an already padded ``(batch, samples)`` signal.

    Returns ``(f0_hz, voiced)``, each ``(batch, n_frames)``.
    """
    block = math.gcd(frame_length, hop_length)
    if block >= _MIN_YIN_BLOCK:
        acf = frame_autocorrelation_blocks(
            signal, frame_length, hop_length, n_frames, max_period, block
        )
    else:
        acf = frame_autocorrelation_fft(signal, frame_length, hop_length, n_frames, max_period)

    # Energy of each frame's first k samples, k = 1..max_period, as librosa computes it.
    head_energy = torch.cumsum(
        signal.square().unfold(-1, max_period, hop_length)[:, :n_frames], dim=-1
    )
    lags = torch.arange(1, max_period + 1, device=signal.device, dtype=acf.dtype)

    # librosa's difference function d(k) = 2 * (acf(0) - acf(k)) - sum_{m<k} x[m]^2, halved:
    # the CMNDF is a ratio of d to its running mean, so the factor cancels (exactly: scaling
    # by 2 commutes with float rounding). In-place steps: every pass over (frames x lags)
    # that allocates costs as much as the maths.
    diff = torch.sub(acf[..., :1], acf[..., 1:]).sub_(head_energy, alpha=0.5)
    cumulative_mean = torch.cumsum(diff, dim=-1).div_(lags)
    tiny = torch.finfo(acf.dtype).tiny
    cmndf = diff[..., min_period - 1 :].div_(cumulative_mean[..., min_period - 1 :].add_(tiny))

    # First local minimum (strict on the left, <= on the right, strict at both ends) below
    # the threshold: start from "below" and clear it where there is no trough.
    below = cmndf < threshold
    below[..., 1:-1] &= (cmndf[..., 1:-1] < cmndf[..., :-2]) & (cmndf[..., 1:-1] <= cmndf[..., 2:])
    below[..., 0] &= cmndf[..., 0] < cmndf[..., 1]
    below[..., -1] &= cmndf[..., -1] < cmndf[..., -2]
    voiced = below.any(dim=-1)
    first_below = torch.argmax(below.view(torch.uint8), dim=-1)
    period_index = torch.where(voiced, first_below, torch.argmin(cmndf, dim=-1))
    period = min_period + period_index + _parabolic_shift_at(cmndf, period_index)
    return sample_rate / period, voiced


def yin(
    waveform: Tensor,
    sample_rate: int,
    frame_length: int = 2048,
    hop_length: int = 256,
    fmin: float = 65.0,
    fmax: float = 1000.0,
    threshold: float = 0.1,
    return_voicing: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """YIN fundamental-frequency estimate, frame for frame as ``librosa.yin`` (0.11).

    Frames are centred (``frame_length // 2`` zeros on both sides), so ``time`` samples give
    ``1 + time // hop_length`` frames with frame ``i`` centred at ``i * hop_length``. Per frame:
    difference function, cumulative-mean-normalised difference (CMNDF) over periods
    ``floor(sr / fmax) .. min(ceil(sr / fmin), frame_length - 1)``, the first local minimum
    below ``threshold`` (else the global minimum), and parabolic interpolation.

    Like librosa, a frequency is returned for every frame; the voicing mask (threshold met)
    is separate. When ``frame_length`` and ``hop_length`` share a divisor of at least 32
    samples (always, when the hop divides the frame) the autocorrelation is computed
    block-wise, each block transformed once for all frames that overlap it; otherwise with one
    FFT per frame. Both give librosa's numbers up to float32 rounding.

    Args:
        waveform: ``(..., time)`` samples; float64 stays float64, other dtypes run in float32.
        threshold: CMNDF trough threshold (librosa ``trough_threshold``).
        return_voicing: also return the boolean voicing mask.

    Returns:
        ``f0_hz`` of shape ``(..., frames)``, or ``(f0_hz, voiced)`` with ``return_voicing``.
    """
    if not 0 < fmin < fmax <= sample_rate / 2:
        raise ValueError(
            f"yin needs 0 < fmin < fmax <= sample_rate/2, got fmin={fmin} "
            f"fmax={fmax} sample_rate={sample_rate}"
        )
    if sample_rate / fmin >= frame_length - 1:
        raise ValueError(
            f"fmin={fmin} Hz has a period longer than frame_length={frame_length}; "
            f"raise fmin above {sample_rate / (frame_length - 1):.1f} Hz or use a "
            "longer frame"
        )
    min_period = max(1, int(math.floor(sample_rate / fmax)))
    max_period = min(int(math.ceil(sample_rate / fmin)), frame_length - 1)
    if max_period - min_period < 2:
        raise ValueError(
            f"yin needs a wider pitch range than fmin={fmin} fmax={fmax} Hz "
            f"(at least 3 candidate periods at sample_rate={sample_rate})"
        )

    batch_shape = waveform.shape[:-1]
    signal = _as_dsp_dtype(waveform.reshape(-1, waveform.shape[-1]))
    signal = F.pad(signal, (frame_length // 2, frame_length // 2))
    n_frames = 1 + (signal.shape[-1] - frame_length) // hop_length
    # On CPU, runs of frames whose (frames x lags) intermediates fit in cache are ~1.7x faster
    # than one pass over a long signal; a GPU wants everything in one launch.
    chunk = n_frames
    if signal.device.type == "cpu":
        chunk = max(16, _CPU_CHUNK_ELEMENTS // (signal.shape[0] * (max_period + 1)))
    f0_parts, voiced_parts = [], []
    for start in range(0, n_frames, chunk):
        count = min(chunk, n_frames - start)
        segment = signal[:, start * hop_length : (start + count - 1) * hop_length + frame_length]
        f0_part, voiced_part = _yin_frames(
            segment,
            sample_rate,
            frame_length,
            hop_length,
            count,
            min_period,
            max_period,
            threshold,
        )
        f0_parts.append(f0_part)
        voiced_parts.append(voiced_part)
    f0_hz = torch.cat(f0_parts, dim=-1).reshape(*batch_shape, n_frames)
    if return_voicing:
        return f0_hz, torch.cat(voiced_parts, dim=-1).reshape(*batch_shape, n_frames)
    return f0_hz
