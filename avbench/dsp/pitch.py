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
# CPU YIN works through frames in runs of about this many (frames x lags) values (~2 MiB,
# an L2): each run costs ~100 op dispatches, so much smaller runs are dominated by overhead.
_CPU_CHUNK_ELEMENTS = 1 << 19


def _as_dsp_dtype(signal: Tensor) -> Tensor:
    """float64 stays float64; everything else (ints, fp16, bf16) runs in float32.

    Half-precision FFTs lose too much for spectra and YIN troughs (and CPU has none).
    """
    return signal if signal.dtype in (torch.float32, torch.float64) else signal.float()


def _parabolic_shift(window: Tensor, index: Tensor, last: int) -> Tensor:
    """Sub-lag offset of the parabola through ``window = cmndf[index - 1 : index + 2]``.

    librosa's rule: 0 at the first/last lag (``index`` 0 or ``last``; their windows are
    clamped inside the CMNDF and ignored) and wherever the optimum would lie more than one lag
    away. Evaluated only at the chosen lag of each frame, not over the whole CMNDF.
    """
    left, mid, right = window.unbind(-1)
    curvature = right + left - 2 * mid
    slope = (right - left) / 2
    usable = (slope.abs() < curvature.abs()) & (index > 0) & (index < last)
    return torch.where(usable, -slope / torch.where(usable, curvature, 1.0), 0.0)


def _yin_constants(
    dtype: torch.dtype, device: torch.device, min_period: int, max_period: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-call constants of :func:`_yin_frames`: lags ``min_period..max_period``, the
    smallest normal float, the trough ramp (``periods .. 1`` times ``max / (2 * periods)``:
    steps that dwarf any CMNDF value, so subtracting them puts troughs below everything else)
    and the offsets ``-1, 0, 1`` of the interpolation window.
    """
    lags = torch.arange(min_period, max_period + 1, device=device, dtype=dtype)
    periods = max_period - min_period + 1
    step = torch.finfo(dtype).max / (2 * periods)
    ramp = torch.arange(periods, 0, -1, device=device, dtype=dtype) * step
    tiny = torch.tensor(torch.finfo(dtype).tiny, dtype=dtype, device=device)
    return lags, tiny, ramp, torch.arange(-1, 2, device=device)


def _yin_frames(
    signal: Tensor,
    frame_length: int,
    hop_length: int,
    n_frames: int,
    min_period: int,
    max_period: int,
    threshold: float,
    constants: tuple[Tensor, Tensor, Tensor, Tensor],
) -> tuple[Tensor, Tensor, Tensor]:
    """YIN troughs on the ``n_frames`` frames of an already padded ``(batch, samples)`` signal.

    Returns ``(period_index, voiced, window)``: the chosen CMNDF index (lag - min_period),
    the voicing mask, each ``(batch, n_frames)``, and the CMNDF at ``index - 1 .. index + 1``
    (clamped inside the CMNDF), ``(batch, n_frames, 3)``, for the parabolic interpolation.
    ``constants`` are :func:`_yin_constants`.
    """
    lags, tiny, ramp, offsets = constants
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

    # librosa's difference function d(k) = 2 * (acf(0) - acf(k)) - sum_{m<k} x[m]^2, halved:
    # the CMNDF is a ratio of d to its running mean, so the factor cancels (exactly: scaling
    # by 2 commutes with float rounding). In-place steps: every pass over (frames x lags)
    # that allocates costs as much as the maths.
    diff = torch.sub(acf[..., :1], acf[..., 1:]).sub_(head_energy, alpha=0.5)
    running = torch.cumsum(diff, dim=-1)[..., min_period - 1 :]
    mean = torch.addcdiv(tiny, running, lags, out=running)
    cmndf = diff[..., min_period - 1 :].div_(mean)

    # First local minimum (strict on the left, <= on the right, strict at both ends) below
    # the threshold. Float 0/1 masks: comparisons into float run ~4x faster than into bool.
    # falls[i] = cmndf[i + 1] < cmndf[i] (0 past the end); index i >= 1 is a local minimum
    # iff falls[i - 1] > falls[i]; index 0 is checked apart.
    falls = torch.empty_like(cmndf)
    falls[..., -1] = 0
    torch.lt(cmndf[..., 1:], cmndf[..., :-1], out=falls[..., :-1])
    trough = torch.empty_like(cmndf)
    torch.gt(falls[..., :-1], falls[..., 1:], out=trough[..., 1:])
    trough[..., 1:] *= torch.lt(cmndf[..., 1:], threshold, out=falls[..., 1:])
    head = cmndf[..., 0]
    trough[..., 0] = (head < cmndf[..., 1]) & (head < threshold)
    # One argmin finds both answers: troughs are pushed below any CMNDF value, the earlier
    # the lower; other lags keep their value.
    index = torch.argmin(torch.addcmul(cmndf, trough, ramp, value=-1), dim=-1, keepdim=True)
    window = torch.gather(cmndf, -1, index.clamp(1, cmndf.shape[-1] - 2) + offsets)
    return index, torch.gather(trough, -1, index), window


def _period_range(sample_rate: int, frame_length: int, fmin: float,
                  fmax: float) -> tuple[int, int]:
    """The candidate periods (samples) YIN searches, or a ValueError naming the fix."""
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
    return min_period, max_period


def _yin_chunks(signal: Tensor, frame_length: int, hop_length: int, n_frames: int,
                min_period: int, max_period: int, threshold: float
                ) -> tuple[Tensor, Tensor, Tensor]:
    """``_yin_frames`` over runs of frames, concatenated: trough index, voicing, window."""
    # On CPU, runs of frames whose (frames x lags) intermediates stay near L2 size beat one
    # pass over a long signal (and much shorter runs); a GPU wants everything in one launch.
    chunk = n_frames
    if signal.device.type == "cpu":
        chunk = max(16, _CPU_CHUNK_ELEMENTS // (signal.shape[0] * (max_period + 1)))
    constants = _yin_constants(signal.dtype, signal.device, min_period, max_period)
    parts = [
        _yin_frames(
            signal[:, start * hop_length : (start + count - 1) * hop_length + frame_length],
            frame_length,
            hop_length,
            count,
            min_period,
            max_period,
            threshold,
            constants,
        )
        for start in range(0, n_frames, chunk)
        for count in [min(chunk, n_frames - start)]
    ]
    return tuple(torch.cat(part, dim=1) for part in zip(*parts, strict=True))


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
    min_period, max_period = _period_range(sample_rate, frame_length, fmin, fmax)

    batch_shape = waveform.shape[:-1]
    signal = _as_dsp_dtype(waveform.reshape(-1, waveform.shape[-1]))
    signal = F.pad(signal, (frame_length // 2, frame_length // 2))
    n_frames = 1 + (signal.shape[-1] - frame_length) // hop_length
    index, voiced, window = _yin_chunks(signal, frame_length, hop_length, n_frames,
                                        min_period, max_period, threshold)
    index, voiced = index[..., 0], voiced[..., 0] > 0
    period = min_period + index + _parabolic_shift(window, index, max_period - min_period)
    f0_hz = (sample_rate / period).reshape(*batch_shape, n_frames)
    if return_voicing:
        return f0_hz, voiced.reshape(*batch_shape, n_frames)
    return f0_hz
