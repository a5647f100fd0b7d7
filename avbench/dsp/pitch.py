"""YIN pitch in pure torch (librosa.yin's framing), re-exported by :mod:`avbench.dsp.functional`.

The difference function comes from FFT autocorrelation: per hop block when the hop divides
the frame (:func:`avbench.dsp.autocorrelation.frame_autocorrelation_blocks`), per frame
otherwise. Vectorised over frames and leading batch dimensions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from avbench.dsp.autocorrelation import frame_autocorrelation_blocks, frame_autocorrelation_fft

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
