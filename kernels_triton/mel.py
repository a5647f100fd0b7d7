"""Log-mel: power x mel filterbank (banded) + log clamp; and a fused STFT -> log-mel kernel.

Mel filters are triangles: filter ``m`` is non-zero only on bins ``lo[m] .. hi[m]`` and both
edges rise with ``m``. :func:`mel_from_power` walks, for each block of mels, only the union
of their bands (a fifth to a tenth of the bins for 80 mels), instead of all ``n_fft/2+1``.

:func:`log_mel` fuses the STFT with the projection: each program keeps a tile of frames'
mel accumulators on chip and never writes the power spectrogram out, which saves
``2 x 4 x (n_fft/2+1)`` bytes per frame of memory traffic; the projection is ~2 % of the
DFT's FLOPs, so the fused kernel does not bother skipping the zero part of the filterbank.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels_triton._common import INTERPRETED, KernelInputError, check_input, frames_bucket
from kernels_triton.stft import check_bases, check_stft_sizes, n_frames_of, power_tile


def autotune_configs() -> list[triton.Config]:
    """Tiles of the banded projection; one config under the interpreter."""
    if INTERPRETED:
        return [triton.Config({"BLOCK_M": 16, "BLOCK_T": 16, "BLOCK_K": 16})]
    return [
        triton.Config({"BLOCK_M": bm, "BLOCK_T": bt, "BLOCK_K": bk}, num_warps=w)
        for bm, bt, bk, w in [(16, 64, 32, 4), (16, 128, 32, 4), (32, 64, 32, 4),
                              (32, 128, 64, 8), (16, 256, 32, 8)]
    ]


def fused_autotune_configs() -> list[triton.Config]:
    """Tiles of the fused STFT -> log-mel kernel; one config under the interpreter."""
    if INTERPRETED:
        return [triton.Config({"BLOCK_T": 32, "BLOCK_F": 64, "BLOCK_K": 64})]
    return [
        triton.Config({"BLOCK_T": bt, "BLOCK_F": bf, "BLOCK_K": bk}, num_warps=w, num_stages=s)
        for bt, bf, bk, w, s in [(64, 64, 32, 4, 3), (64, 32, 64, 4, 3), (128, 64, 32, 8, 2),
                                 (32, 64, 64, 4, 3)]
    ]


@triton.autotune(configs=autotune_configs(), key=["n_freqs", "n_mels", "frames_bucket"])
@triton.jit
def _banded_log_mel_kernel(
    power_ptr, fb_ptr, lo_ptr, hi_ptr, out_ptr,
    n_freqs, n_frames, n_mels, floor,
    frames_bucket,  # autotune key only (see kernels_triton._common.frames_bucket)
    BLOCK_M: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid_b = tl.program_id(0)
    m = tl.program_id(1) * BLOCK_M + tl.arange(0, BLOCK_M)
    t = tl.program_id(2) * BLOCK_T + tl.arange(0, BLOCK_T)
    # lo/hi are monotone, so the block's band is lo[first mel] .. hi[last mel].
    band_lo = tl.load(lo_ptr + tl.program_id(1) * BLOCK_M)
    band_hi = tl.load(hi_ptr + tl.minimum(tl.program_id(1) * BLOCK_M + BLOCK_M, n_mels) - 1)
    power_row = power_ptr + pid_b.to(tl.int64) * n_freqs * n_frames
    acc = tl.zeros((BLOCK_M, BLOCK_T), dtype=tl.float32)
    for k0 in range(band_lo, band_hi, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)
        weights = tl.load(fb_ptr + m[:, None] * n_freqs + k[None, :],
                          mask=(m[:, None] < n_mels) & (k[None, :] < band_hi), other=0.0)
        power = tl.load(power_row + k[:, None] * n_frames + t[None, :],
                        mask=(k[:, None] < band_hi) & (t[None, :] < n_frames), other=0.0)
        acc += tl.dot(weights, power, input_precision="ieee")
    out = out_ptr + pid_b.to(tl.int64) * n_mels * n_frames + m[:, None] * n_frames + t[None, :]
    tl.store(out, tl.log(tl.maximum(acc, floor)),
             mask=(m[:, None] < n_mels) & (t[None, :] < n_frames))


@triton.autotune(configs=fused_autotune_configs(),
                 key=["n_freqs", "n_fft", "n_mels", "frames_bucket"])
@triton.jit
def _fused_log_mel_kernel(
    x_ptr, cos_ptr, sin_ptr, fb_ptr, out_ptr,
    n_samples, n_frames, n_freqs, n_fft, hop, pad, n_mels, floor,
    frames_bucket,  # autotune key only (see kernels_triton._common.frames_bucket)
    USE_TF32: tl.constexpr, MELS: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_F: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid_b = tl.program_id(0)
    t = tl.program_id(1) * BLOCK_T + tl.arange(0, BLOCK_T)
    mels = tl.arange(0, MELS)
    x_row = x_ptr + pid_b.to(tl.int64) * n_samples
    acc = tl.zeros((BLOCK_T, MELS), dtype=tl.float32)
    for f0 in range(0, n_freqs, BLOCK_F):
        f = f0 + tl.arange(0, BLOCK_F)
        power = power_tile(x_row, cos_ptr, sin_ptr, t, f, n_samples, n_frames, n_freqs, n_fft,
                           hop, pad, USE_TF32, BLOCK_T, BLOCK_F, BLOCK_K)
        # fb is (n_freqs, n_mels): this frequency tile's rows, all mels.
        weights = tl.load(fb_ptr + f[:, None] * n_mels + mels[None, :],
                          mask=(f[:, None] < n_freqs) & (mels[None, :] < n_mels), other=0.0)
        acc += tl.dot(power, weights, input_precision="ieee")
    out = out_ptr + pid_b.to(tl.int64) * n_mels * n_frames + mels[None, :] * n_frames + t[:, None]
    tl.store(out, tl.log(tl.maximum(acc, floor)),
             mask=(t[:, None] < n_frames) & (mels[None, :] < n_mels))


def mel_bands(mel_basis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-mel ``[lo, hi)`` non-zero bin ranges of an ``(n_freqs, n_mels)`` filterbank (int32).

    Made monotone (``lo`` by a suffix minimum, ``hi`` by a prefix maximum) so that a block of
    consecutive mels is covered by ``lo[first] .. hi[last]``; an all-zero filter is harmless.
    """
    nonzero = mel_basis != 0
    n_freqs = mel_basis.shape[0]
    bins = torch.arange(n_freqs, device=mel_basis.device)[:, None]
    lo = torch.where(nonzero, bins, n_freqs).amin(dim=0)
    hi = torch.where(nonzero, bins + 1, 0).amax(dim=0)
    lo = torch.flip(torch.cummin(torch.flip(lo, [0]), 0).values, [0])
    hi = torch.cummax(hi, 0).values
    return lo.to(torch.int32).contiguous(), hi.to(torch.int32).contiguous()


def _check_filterbank(mel_basis: torch.Tensor, n_freqs: int, device: torch.device) -> None:
    check_input(mel_basis, "mel_basis", "log_mel")
    if mel_basis.dtype != torch.float32 or mel_basis.ndim != 2 or mel_basis.shape[0] != n_freqs:
        raise KernelInputError(f"log_mel: mel_basis must be float32 ({n_freqs}, n_mels), got "
                               f"{mel_basis.dtype} {tuple(mel_basis.shape)}")
    if mel_basis.device != device:
        raise KernelInputError(f"log_mel: mel_basis is on {mel_basis.device}, input on {device}")


def mel_from_power(power: torch.Tensor, mel_basis: torch.Tensor,
                   bands: tuple[torch.Tensor, torch.Tensor], floor: float = 1e-10) -> torch.Tensor:
    """``log(clamp(mel_basis.T @ power, floor))``: ``(..., n_freqs, frames) -> (..., n_mels, frames)``.

    ``power`` is float32; ``bands`` come from :func:`mel_bands` (build them once).
    """
    check_input(power, "power", "log_mel")
    if power.dtype != torch.float32 or power.ndim < 2:
        raise KernelInputError(f"log_mel: power must be float32 (..., n_freqs, frames), got "
                               f"{power.dtype} {tuple(power.shape)}")
    n_freqs, n_frames = power.shape[-2:]
    _check_filterbank(mel_basis, n_freqs, power.device)
    n_mels = mel_basis.shape[1]
    flat = power.reshape(-1, n_freqs, n_frames)
    fb_t = mel_basis.T.contiguous()
    out = torch.empty(flat.shape[0], n_mels, n_frames, dtype=torch.float32, device=power.device)

    def grid(meta: dict) -> tuple[int, int, int]:
        return (flat.shape[0], triton.cdiv(n_mels, meta["BLOCK_M"]),
                triton.cdiv(n_frames, meta["BLOCK_T"]))

    _banded_log_mel_kernel[grid](flat, fb_t, bands[0], bands[1], out,
                                 n_freqs, n_frames, n_mels, floor, frames_bucket(n_frames))
    return out.reshape(*power.shape[:-2], n_mels, n_frames)


def log_mel(waveform: torch.Tensor, bases: tuple[torch.Tensor, torch.Tensor],
            mel_basis: torch.Tensor, hop_length: int, center: bool = True,
            floor: float = 1e-10, use_tf32: bool = False) -> torch.Tensor:
    """Fused STFT power -> mel -> log: ``(..., time) -> float32 (..., n_mels, frames)``.

    Equals :func:`avbench.dsp.functional.log_mel_spectrogram` with the same window (folded
    into ``bases``, see :func:`kernels_triton.stft.dft_bases`) and filterbank.
    """
    check_input(waveform, "waveform", "log_mel")
    n_fft = bases[0].shape[0]
    check_stft_sizes(waveform, n_fft, hop_length)
    check_bases(bases, n_fft, waveform)
    n_freqs = n_fft // 2 + 1
    _check_filterbank(mel_basis, n_freqs, waveform.device)
    n_mels = mel_basis.shape[1]
    if n_mels > 256:
        raise KernelInputError(f"log_mel: the fused kernel holds all mels on chip and takes at "
                               f"most 256, got {n_mels}; use stft_power + mel_from_power")
    n_samples = waveform.shape[-1]
    signal = waveform.reshape(-1, n_samples)
    n_frames = n_frames_of(n_samples, n_fft, hop_length, center)
    out = torch.empty(signal.shape[0], n_mels, n_frames, dtype=torch.float32,
                      device=waveform.device)

    def grid(meta: dict) -> tuple[int, int]:
        return (signal.shape[0], triton.cdiv(n_frames, meta["BLOCK_T"]))

    _fused_log_mel_kernel[grid](
        signal, bases[0], bases[1], mel_basis, out,
        n_samples, n_frames, n_freqs, n_fft, hop_length, n_fft // 2 if center else 0,
        n_mels, floor, frames_bucket(n_frames), USE_TF32=use_tf32,
        MELS=max(16, triton.next_power_of_2(n_mels)),
    )
    return out.reshape(*waveform.shape[:-1], n_mels, n_frames)
