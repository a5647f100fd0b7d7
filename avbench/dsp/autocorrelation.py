"""Autocorrelation of overlapping frames at lags ``0..max_lag``, for YIN.

Two interchangeable implementations (same result up to float rounding):
:func:`frame_autocorrelation_fft` transforms every frame;
:func:`frame_autocorrelation_blocks` transforms each block (a common divisor of hop and frame
length, normally the hop) once and sums block cross-correlations, which is several times
cheaper when frames overlap a lot.
"""

from __future__ import annotations

import torch
from torch import Tensor


def frame_autocorrelation_fft(
    frames_source: Tensor, frame_length: int, hop_length: int, n_frames: int, max_lag: int
) -> Tensor:
    """Autocorrelation of each frame at lags ``0..max_lag`` with one FFT per frame.

    ``frames_source`` is ``(batch, samples)``; frame ``t`` is
    ``frames_source[:, t*hop : t*hop + frame_length]``. Returns ``(batch, n_frames, max_lag+1)``.
    """
    frames = frames_source.unfold(-1, frame_length, hop_length)[:, :n_frames]
    # Lags up to max_lag need no more than frame_length + max_lag points to avoid wrap-around.
    n_fft = next_fast_len(frame_length + max_lag)
    spectrum = torch.fft.rfft(frames, n=n_fft)
    power = spectrum.real.square() + spectrum.imag.square()
    return torch.fft.irfft(power, n=n_fft)[..., : max_lag + 1]


def frame_autocorrelation_blocks(
    frames_source: Tensor,
    frame_length: int,
    hop_length: int,
    n_frames: int,
    max_lag: int,
    block: int,
) -> Tensor:
    """Same result as :func:`frame_autocorrelation_fft`, from per-block cross-correlations.

    The signal is cut into blocks of ``block`` samples (``block`` divides both hop and frame
    length). A frame's autocorrelation at lag ``k`` sums ``x[u] * x[u + k]`` over pairs inside
    the frame; grouping the pairs by the block of ``u`` (``i``) and of ``u + k`` (``i + r``)
    makes it a sum of block cross-correlations ``xcorr(block_i, block_{i+r})``. Each block is
    transformed once (FFT size ``2 * block``) and reused by every overlapping frame, so the cost
    depends on block size and max lag rather than on the frame length.
    """
    batch = frames_source.shape[0]
    stride = hop_length // block  # blocks between consecutive frame starts
    per_frame = frame_length // block
    n_blocks = (n_frames - 1) * stride + per_frame
    blocks = frames_source[:, : n_blocks * block].reshape(batch, n_blocks, block)
    spectra = torch.fft.rfft(blocks, n=2 * block)
    conj = spectra.conj_physical()  # once, not inside every product

    # Block pairs (i, i + r) contribute lags r*block - (block-1) .. r*block + (block-1).
    n_offsets = min((max_lag + block - 1) // block + 1, per_frame)
    last_start = (n_frames - 1) * stride
    acf: Tensor | None = None
    # partial[:, i] = sum over r < q of xcorr(block_i, block_{i+r}) laid out by lag, for the
    # current q. Block b of a frame may only pair with blocks b..per_frame-1 of that frame, so
    # it needs the partial sum with q = min(n_offsets, per_frame - b).
    partial = frames_source.new_zeros(batch, n_blocks, max_lag + 1)
    for r in range(n_offsets):
        xcorr = torch.fft.irfft(conj[:, : n_blocks - r] * spectra[:, r:], n=2 * block)
        rows = partial[:, : n_blocks - r]
        # irfft index m < block holds relative lag m, index 2*block - m holds lag -m.
        if r > 0:
            lo = (r - 1) * block + 1
            hi = min(max_lag + 1, r * block)
            rows[..., lo:hi] += xcorr[..., block + 1 : block + 1 + hi - lo]
        lo = r * block
        hi = min(max_lag + 1, (r + 1) * block)
        if hi > lo:
            rows[..., lo:hi] += xcorr[..., : hi - lo]
        if r + 1 < n_offsets:
            b = per_frame - (r + 1)
            acf = _accumulate(acf, partial[:, b : b + last_start + 1 : stride])
    full_width = per_frame - n_offsets + 1  # leading blocks that pair with every offset
    if stride == 1:
        return _window_sum(partial, full_width, n_frames, acf)
    for b in range(full_width):
        acf = _accumulate(acf, partial[:, b : b + last_start + 1 : stride])
    assert acf is not None
    return acf


def _accumulate(total: Tensor | None, part: Tensor) -> Tensor:
    """``total + part`` in place, or a copy of ``part`` to start with (no zero-filled pass)."""
    return part.clone() if total is None else total.add_(part)


def _window_sum(rows: Tensor, width: int, count: int, total: Tensor | None = None) -> Tensor:
    """``total + sum(rows[:, b : b + count] for b in range(width))`` in ~log2(width) passes.

    Pairwise doubling (sums of 2, 4, 8 ... consecutive rows) instead of ``width`` passes over
    the (frames x lags) array; no prefix sums, so no float cancellation. Adds into ``total``
    in place when given.
    """
    offset, size, sums = 0, 1, rows
    while width:
        if width & 1:
            total = _accumulate(total, sums[:, offset : offset + count])
            offset += size
        width >>= 1
        if width:
            sums = sums[:, :-size] + sums[:, size:]
            size *= 2
    assert total is not None
    return total


def next_fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (fast FFT size)."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            size = p35
            while size < n:
                size *= 2
            best = min(best, size)
            p35 *= 3
        p5 *= 5
    return best
