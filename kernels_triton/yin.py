"""YIN: difference function over lags for all frames, CMNDF, threshold pick + parabola.

Two launches. ``_yin_cmndf_kernel`` gives each (signal, frame) a program that holds all lags
``0..max_period`` in registers, accumulates the autocorrelation over tiles of the frame
(``BLOCK_U`` samples x all lags per step), derives librosa's difference function and the
cumulative-mean normalisation with ``tl.cumsum``, and writes the CMNDF. ``_yin_pick_kernel``
reads each CMNDF row with its left/right neighbours (a trough test needs them, and registers
cannot be shifted across threads, so the row goes through memory between the two launches),
picks the first trough under the threshold (else the global minimum) and refines it with
librosa's parabolic interpolation.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from kernels_triton._common import INTERPRETED, KernelInputError, check_input

# All lags of a frame live in one program; beyond this the register tile gets too large.
MAX_LAGS = 4096
# CUDA's grid limit on axis 0 (axes 1 and 2 stop at 65,535, which ~12.7 min of 22.05 kHz
# audio at hop 256 would pass in frames: so both launches put every program on axis 0).
MAX_GRID_X = 2**31 - 1


def autotune_configs() -> list[triton.Config]:
    """Frame-tile width of the autocorrelation; one config under the interpreter."""
    if INTERPRETED:
        return [triton.Config({"BLOCK_U": 64})]
    return [triton.Config({"BLOCK_U": u}, num_warps=w) for u, w in
            [(8, 4), (16, 4), (16, 8), (32, 8)]]


@triton.autotune(configs=autotune_configs(), key=["frame_length", "max_period"])
@triton.jit
def _yin_cmndf_kernel(
    x_ptr, out_ptr,
    n_samples, n_frames, frame_length, hop, pad, min_period, max_period, n_cand,
    BLOCK_L: tl.constexpr, BLOCK_U: tl.constexpr,
):
    row_id = tl.program_id(0).to(tl.int64)  # one program per (signal, frame): see yin_grid
    pid_b = row_id // n_frames
    frame = row_id % n_frames
    x_row = x_ptr + pid_b * n_samples
    start = frame * hop - pad  # first sample of the frame in the unpadded signal
    lags = tl.arange(0, BLOCK_L)
    lag_ok = lags <= max_period
    acf = tl.zeros((BLOCK_L,), dtype=tl.float32)
    for u0 in range(0, frame_length, BLOCK_U):
        u = u0 + tl.arange(0, BLOCK_U)
        a_idx = start + u
        a = tl.load(x_row + a_idx, mask=(u < frame_length) & (a_idx >= 0) & (a_idx < n_samples),
                    other=0.0).to(tl.float32)
        pos = u[:, None] + lags[None, :]  # position inside the frame of the lagged sample
        b_idx = start + pos
        b = tl.load(x_row + b_idx, other=0.0,
                    mask=(pos < frame_length) & lag_ok[None, :] & (b_idx >= 0)
                    & (b_idx < n_samples)).to(tl.float32)
        acf += tl.sum(a[:, None] * b, axis=0)
    # Energy of the frame's first k samples, k = lag (exclusive prefix sum of x^2).
    e_idx = start + lags
    head = tl.load(x_row + e_idx, mask=(lags < max_period) & (e_idx >= 0) & (e_idx < n_samples),
                   other=0.0).to(tl.float32)
    head = head * head
    head_excl = tl.cumsum(head, axis=0) - head
    acf0 = tl.sum(tl.where(lags == 0, acf, 0.0), axis=0)
    # librosa's difference function d(k) = 2 (acf(0) - acf(k)) - sum_{m<k} x[m]^2, k >= 1.
    diff = tl.where((lags >= 1) & lag_ok, 2.0 * (acf0 - acf) - head_excl, 0.0)
    cumulative_mean = tl.cumsum(diff, axis=0) / tl.maximum(lags, 1).to(tl.float32)
    cmndf = diff / (cumulative_mean + 1.1754943508222875e-38)
    out = out_ptr + row_id * n_cand + (lags - min_period)
    tl.store(out, cmndf, mask=(lags >= min_period) & lag_ok)


@triton.jit
def _yin_pick_kernel(
    cmndf_ptr, f0_ptr, voiced_ptr, n_cand, min_period, sample_rate, threshold,
    BLOCK_C: tl.constexpr,
):
    row_id = tl.program_id(0).to(tl.int64)
    row = cmndf_ptr + row_id * n_cand
    i = tl.arange(0, BLOCK_C)
    valid = i < n_cand
    inf = float("inf")
    c = tl.load(row + i, mask=valid, other=inf)
    left = tl.load(row + i - 1, mask=valid & (i > 0), other=inf)
    right = tl.load(row + i + 1, mask=(i + 1) < n_cand, other=inf)
    # Local minima as librosa marks them: strict on the left, <= on the right, strict at lag 0.
    trough = valid & (c < left) & tl.where(i == 0, c < right, c <= right)
    below = trough & (c < threshold)
    first = tl.min(tl.where(below, i, BLOCK_C), axis=0)
    voiced = first < BLOCK_C
    index = tl.where(voiced, first, tl.argmin(c, axis=0))
    last = n_cand - 1
    c_left = tl.load(row + tl.maximum(index - 1, 0))
    c_mid = tl.load(row + index)
    c_right = tl.load(row + tl.minimum(index + 1, last))
    curvature = c_right + c_left - 2.0 * c_mid
    slope = (c_right - c_left) / 2.0
    usable = (tl.abs(slope) < tl.abs(curvature)) & (index > 0) & (index < last)
    shift = tl.where(usable, -slope / tl.where(usable, curvature, 1.0), 0.0)
    period = (min_period + index).to(tl.float32) + shift
    tl.store(f0_ptr + row_id, sample_rate / period)
    tl.store(voiced_ptr + row_id, voiced.to(tl.int8))


def yin_periods(sample_rate: int, frame_length: int, fmin: float, fmax: float) -> tuple[int, int]:
    """``(min_period, max_period)`` in samples, as librosa.yin and the torch path compute them."""
    if not 0 < fmin < fmax <= sample_rate / 2:
        raise KernelInputError(f"yin: needs 0 < fmin < fmax <= sample_rate/2, got fmin={fmin} "
                               f"fmax={fmax} sample_rate={sample_rate}")
    min_period = max(1, int(math.floor(sample_rate / fmax)))
    max_period = min(int(math.ceil(sample_rate / fmin)), frame_length - 1)
    if max_period - min_period < 2:
        raise KernelInputError(f"yin: fmin={fmin} fmax={fmax} leave fewer than 3 candidate "
                               f"periods at sample_rate={sample_rate} and frame_length={frame_length}")
    if max_period + 1 > MAX_LAGS:
        raise KernelInputError(f"yin: {max_period + 1} lags exceed the kernel's {MAX_LAGS}; "
                               "raise fmin or use kernel=torch")
    return min_period, max_period


def yin_grid(batch: int, n_frames: int) -> tuple[int]:
    """The launch grid of both YIN kernels: one program per (signal, frame), all on axis 0."""
    programs = batch * n_frames
    if programs > MAX_GRID_X:
        raise KernelInputError(f"yin: {batch} signal(s) x {n_frames} frames exceed CUDA's "
                               f"{MAX_GRID_X} programs per launch; split the audio or raise "
                               "hop_length")
    return (programs,)


def yin(waveform: torch.Tensor, sample_rate: int, frame_length: int = 2048,
        hop_length: int = 256, fmin: float = 65.0, fmax: float = 1000.0,
        threshold: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """YIN on ``(..., time)`` -> ``(f0_hz, voiced)``, each ``(..., 1 + time // hop_length)``.

    Frame for frame :func:`avbench.dsp.functional.yin` (librosa's centred framing); float32 or
    float16 input, float32 arithmetic, float32 ``f0_hz`` and boolean ``voiced``.
    """
    check_input(waveform, "waveform", "yin")
    if waveform.ndim < 1 or waveform.shape[-1] == 0:
        raise KernelInputError(f"yin: waveform must be (..., time) with time > 0, got "
                               f"{tuple(waveform.shape)}")
    if hop_length < 1 or frame_length < 16:
        raise KernelInputError(f"yin: needs hop_length >= 1 and frame_length >= 16, got "
                               f"{hop_length} and {frame_length}")
    min_period, max_period = yin_periods(sample_rate, frame_length, fmin, fmax)
    n_samples = waveform.shape[-1]
    signal = waveform.reshape(-1, n_samples)
    batch = signal.shape[0]
    pad = frame_length // 2
    n_frames = 1 + (n_samples + 2 * pad - frame_length) // hop_length
    n_cand = max_period - min_period + 1
    device = waveform.device
    cmndf = torch.empty(batch, n_frames, n_cand, dtype=torch.float32, device=device)
    grid = yin_grid(batch, n_frames)
    _yin_cmndf_kernel[grid](
        signal, cmndf, n_samples, n_frames, frame_length, hop_length, pad,
        min_period, max_period, n_cand, BLOCK_L=triton.next_power_of_2(max_period + 1),
    )
    f0_hz = torch.empty(batch, n_frames, dtype=torch.float32, device=device)
    voiced = torch.empty(batch, n_frames, dtype=torch.int8, device=device)
    _yin_pick_kernel[grid](
        cmndf, f0_hz, voiced, n_cand, min_period, float(sample_rate), float(threshold),
        BLOCK_C=triton.next_power_of_2(n_cand),
    )
    shape = (*waveform.shape[:-1], n_frames)
    return f0_hz.reshape(shape), voiced.bool().reshape(shape)


def yin_flops(batch: int, n_frames: int, frame_length: int, max_period: int) -> float:
    """Multiply-adds of the direct autocorrelation (x2), the dominant cost of the kernel."""
    return 2.0 * batch * n_frames * frame_length * (max_period + 1)
