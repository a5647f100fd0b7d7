"""Shared by the kernel files: interpreter flag, input validation."""

from __future__ import annotations

import os

import torch
import triton

# Captured at import, as triton.jit does: changing the variable later has no effect.
INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") == "1"

SUPPORTED_DTYPES = (torch.float32, torch.float16)


def frames_bucket(n_frames: int) -> int:
    """The frame count as the autotuners key it: the next power of two. The best tiles
    depend on how many frames there are; a bucket per doubling tunes once per size class
    rather than once per length (or once for every length)."""
    return triton.next_power_of_2(max(n_frames, 1))


class KernelInputError(ValueError):
    """An input a Triton kernel cannot take; the message says what to do instead."""


def check_input(tensor: torch.Tensor, name: str, kernel: str) -> None:
    """Device, dtype and contiguity checks shared by every wrapper."""
    if not isinstance(tensor, torch.Tensor):
        raise KernelInputError(f"{kernel}: {name} must be a torch.Tensor, got {type(tensor)}")
    if tensor.device.type == "cpu" and not INTERPRETED:
        raise KernelInputError(
            f"{kernel}: {name} is on the CPU but Triton kernels need a CUDA tensor; use "
            "kernel=torch on the CPU, or set TRITON_INTERPRET=1 before importing "
            "kernels_triton to run the (slow) interpreter"
        )
    if tensor.device.type not in ("cuda", "cpu"):
        raise KernelInputError(f"{kernel}: {name} is on {tensor.device}; Triton needs CUDA")
    if tensor.dtype not in SUPPORTED_DTYPES:
        raise KernelInputError(
            f"{kernel}: {name} has dtype {tensor.dtype}; supported are float32 and float16 "
            "(convert with .float())"
        )
    if not tensor.is_contiguous():
        raise KernelInputError(
            f"{kernel}: {name} is not contiguous (strides {tuple(tensor.stride())}); "
            "call .contiguous() first"
        )
