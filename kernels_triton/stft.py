"""STFT power spectrogram as a matmul: frames x (window * cos/sin) DFT bases, then |X|^2.

Triton has no FFT and no complex type, so the DFT is two real matmuls against bases with the
analysis window folded in. Framing (and librosa's zero centre padding) happens inside the
kernel through masked loads, so no framed copy of the signal is ever materialised.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from kernels_triton._common import INTERPRETED, KernelInputError, check_input, frames_bucket


def autotune_configs() -> list[triton.Config]:
    """Tile sizes to try on a GPU; one small config under the interpreter (no tuning there)."""
    if INTERPRETED:
        return [triton.Config({"BLOCK_T": 32, "BLOCK_F": 64, "BLOCK_K": 64})]
    return [
        triton.Config({"BLOCK_T": bt, "BLOCK_F": bf, "BLOCK_K": bk}, num_warps=w, num_stages=s)
        for bt, bf, bk, w, s in [
            (64, 64, 32, 4, 3), (128, 64, 32, 8, 3), (64, 128, 32, 8, 3),
            (128, 128, 32, 8, 2), (64, 64, 64, 4, 2), (32, 64, 64, 4, 4),
        ]
    ]


@triton.jit
def power_tile(
    x_row, cos_ptr, sin_ptr, t, f,
    n_samples, n_frames, n_freqs, n_fft, hop, pad,
    USE_TF32: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_F: tl.constexpr, BLOCK_K: tl.constexpr,
):
    """|X|^2 of frames ``t`` at bins ``f``: the framed signal times the cos/sin bases."""
    real = tl.zeros((BLOCK_T, BLOCK_F), dtype=tl.float32)
    imag = tl.zeros((BLOCK_T, BLOCK_F), dtype=tl.float32)
    for k0 in range(0, n_fft, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)
        # Sample index in the unpadded signal; out-of-range reads are the centring zeros.
        idx = t[:, None] * hop + k[None, :] - pad
        frame_mask = (t[:, None] < n_frames) & (k[None, :] < n_fft) & (idx >= 0) & (idx < n_samples)
        frames = tl.load(x_row + idx, mask=frame_mask, other=0.0)
        basis_offsets = k[:, None] * n_freqs + f[None, :]
        basis_mask = (k[:, None] < n_fft) & (f[None, :] < n_freqs)
        cos = tl.load(cos_ptr + basis_offsets, mask=basis_mask, other=0.0)
        sin = tl.load(sin_ptr + basis_offsets, mask=basis_mask, other=0.0)
        if USE_TF32:
            real += tl.dot(frames, cos, input_precision="tf32")
            imag += tl.dot(frames, sin, input_precision="tf32")
        else:
            real += tl.dot(frames, cos, input_precision="ieee")
            imag += tl.dot(frames, sin, input_precision="ieee")
    return real * real + imag * imag


@triton.autotune(configs=autotune_configs(), key=["n_freqs", "n_fft", "frames_bucket"])
@triton.jit
def _stft_power_kernel(
    x_ptr, cos_ptr, sin_ptr, out_ptr,
    n_samples, n_frames, n_freqs, n_fft, hop, pad,
    frames_bucket,  # autotune key only (see frames_bucket)
    USE_TF32: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_F: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid_b = tl.program_id(0)
    t = tl.program_id(1) * BLOCK_T + tl.arange(0, BLOCK_T)
    f = tl.program_id(2) * BLOCK_F + tl.arange(0, BLOCK_F)
    x_row = x_ptr + pid_b.to(tl.int64) * n_samples
    power = power_tile(x_row, cos_ptr, sin_ptr, t, f, n_samples, n_frames, n_freqs, n_fft, hop,
                       pad, USE_TF32, BLOCK_T, BLOCK_F, BLOCK_K)
    out = out_ptr + pid_b.to(tl.int64) * n_freqs * n_frames + f[None, :] * n_frames + t[:, None]
    tl.store(out, power, mask=(t[:, None] < n_frames) & (f[None, :] < n_freqs))


def dft_bases(window: torch.Tensor, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n_fft, n_fft // 2 + 1)`` cosine and sine bases with ``window`` folded in.

    Built in float64 (phases ``2 pi k f / n_fft`` reduced exactly with integer arithmetic)
    and cast once; build them outside any timed region.
    """
    n_fft = window.shape[-1]
    k = torch.arange(n_fft, dtype=torch.int64, device=window.device)
    f = torch.arange(n_fft // 2 + 1, dtype=torch.int64, device=window.device)
    phase = (k[:, None] * f[None, :]) % n_fft * (2 * math.pi / n_fft)
    weighted = window.to(torch.float64)[:, None]
    cos = (weighted * torch.cos(phase)).to(dtype).contiguous()
    sin = (weighted * torch.sin(phase)).to(dtype).contiguous()
    return cos, sin


def n_frames_of(n_samples: int, n_fft: int, hop_length: int, center: bool) -> int:
    """Frame count of librosa's framing (centred: ``1 + n_samples // hop_length``)."""
    padded = n_samples + (2 * (n_fft // 2) if center else 0)
    if padded < n_fft:
        raise KernelInputError(
            f"stft: {n_samples} samples are fewer than n_fft={n_fft}; use center=True or a "
            "longer signal"
        )
    return 1 + (padded - n_fft) // hop_length


def check_stft_sizes(waveform: torch.Tensor, n_fft: int, hop_length: int) -> None:
    if waveform.ndim < 1 or waveform.shape[-1] == 0:
        raise KernelInputError(f"stft: waveform must be (..., time) with time > 0, got "
                               f"{tuple(waveform.shape)}")
    if n_fft < 16 or hop_length < 1:
        raise KernelInputError(f"stft: needs n_fft >= 16 (tl.dot tiles) and hop_length >= 1, "
                               f"got n_fft={n_fft} hop_length={hop_length}")


def check_bases(bases: tuple[torch.Tensor, torch.Tensor], n_fft: int,
                waveform: torch.Tensor) -> None:
    for basis in bases:
        check_input(basis, "DFT basis", "stft")
        if basis.shape != (n_fft, n_fft // 2 + 1):
            raise KernelInputError(f"stft: DFT bases must be ({n_fft}, {n_fft // 2 + 1}), got "
                                   f"{tuple(basis.shape)}; build them with dft_bases(window)")
        if basis.device != waveform.device or basis.dtype != waveform.dtype:
            raise KernelInputError(
                f"stft: bases are {basis.dtype} on {basis.device} but the waveform is "
                f"{waveform.dtype} on {waveform.device}; build them with "
                "dft_bases(window, waveform.dtype) on the waveform's device")


def stft_power(
    waveform: torch.Tensor,
    bases: tuple[torch.Tensor, torch.Tensor],
    hop_length: int,
    center: bool = True,
    use_tf32: bool = False,
) -> torch.Tensor:
    """``|STFT|^2`` of ``waveform (..., time)`` -> float32 ``(..., n_fft // 2 + 1, frames)``.

    Same framing as :func:`avbench.dsp.functional.power_spectrogram` (zero centre padding).
    ``bases`` come from :func:`dft_bases` in the waveform's dtype (float32 or float16; the
    products accumulate in float32). ``use_tf32`` trades ~1e-3 relative accuracy for
    tensor-core speed on fp32 inputs.
    """
    check_input(waveform, "waveform", "stft")
    n_fft = bases[0].shape[0]
    check_stft_sizes(waveform, n_fft, hop_length)
    check_bases(bases, n_fft, waveform)
    n_samples = waveform.shape[-1]
    signal = waveform.reshape(-1, n_samples)
    n_frames = n_frames_of(n_samples, n_fft, hop_length, center)
    n_freqs = n_fft // 2 + 1
    out = torch.empty(signal.shape[0], n_freqs, n_frames, dtype=torch.float32,
                      device=waveform.device)

    def grid(meta: dict) -> tuple[int, int, int]:
        return (signal.shape[0], triton.cdiv(n_frames, meta["BLOCK_T"]),
                triton.cdiv(n_freqs, meta["BLOCK_F"]))

    _stft_power_kernel[grid](
        signal, bases[0], bases[1], out,
        n_samples, n_frames, n_freqs, n_fft, hop_length, n_fft // 2 if center else 0,
        frames_bucket(n_frames), USE_TF32=use_tf32,
    )
    return out.reshape(*waveform.shape[:-1], n_freqs, n_frames)


def stft_flops(batch: int, n_frames: int, n_fft: int) -> float:
    """Multiply-adds of the two DFT matmuls (x2 for FLOPs) plus the |X|^2 epilogue."""
    n_freqs = n_fft // 2 + 1
    return batch * n_frames * n_freqs * (4.0 * n_fft + 3.0)
