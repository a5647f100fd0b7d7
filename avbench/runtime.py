"""Turn config choices into what runs: device, dtype, DSP kernel, cache directory."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import torch

from avbench.errors import UserError

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class ConfigError(UserError, ValueError):
    """A configuration that composes but cannot run here; the message says what to change."""


def resolve_device(gpu_cfg: Any) -> torch.device:
    """gpu=auto: CUDA when present, else CPU; gpu=cpu: CPU; a GPU profile: CUDA or an error."""
    if gpu_cfg.device == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", 0)
    if gpu_cfg.device == "auto":
        return torch.device("cpu")
    raise ConfigError(
        f"gpu={gpu_cfg.name} needs a CUDA GPU and none is available; "
        "use gpu=auto or gpu=cpu to run on the CPU"
    )


def profile_matches(gpu_cfg: Any, device: torch.device) -> bool | None:
    """Whether the device is the GPU the profile describes (None: nothing to check)."""
    if device.type != "cuda" or not gpu_cfg.name_pattern:
        return None
    name = torch.cuda.get_device_name(device)
    matched = re.search(gpu_cfg.name_pattern, name, flags=re.IGNORECASE) is not None
    if not matched:
        log.warning("gpu=%s expects a device matching %r but this is %r; figures are "
                    "recorded against the device actually used", gpu_cfg.name,
                    gpu_cfg.name_pattern, name)
    return matched


def resolve_dtype(precision_cfg: Any) -> torch.dtype:
    try:
        return DTYPES[precision_cfg.dtype]
    except KeyError:
        raise ConfigError(f"precision.dtype={precision_cfg.dtype!r} is not one of "
                          f"{sorted(DTYPES)}") from None


def triton_available() -> bool:
    """Whether the triton package is installed (it is not on macOS or Windows)."""
    return importlib.util.find_spec("triton") is not None


def resolve_kernel(kernel_name: str, device: torch.device) -> tuple[str, bool]:
    """(effective kernel, interpreted) for ``kernel=auto|torch|triton`` on ``device``.

    auto: Triton on CUDA when it is installed, else our torch path (the fast CPU path).
    triton on the CPU runs the Triton interpreter (slow; for correctness, never for speed).
    ``triton.jit`` reads ``TRITON_INTERPRET`` when a kernel is decorated, so when it is unset
    and ``kernels_triton`` has not been imported yet it is set here, in this process; if the
    kernels were already compiled for a GPU it is too late and this is an error.
    """
    if kernel_name == "torch":
        return "torch", False
    if kernel_name == "auto":
        use_triton = device.type == "cuda" and triton_available()
        return ("triton" if use_triton else "torch"), False
    if kernel_name != "triton":
        raise ConfigError(f"kernel={kernel_name} is unknown; use kernel=auto, torch or triton")
    if not triton_available():
        raise ConfigError("kernel=triton needs the triton package (Linux); use kernel=torch")
    if device.type == "cuda":
        return "triton", False
    if "kernels_triton._common" in sys.modules:
        if not sys.modules["kernels_triton._common"].INTERPRETED:
            raise ConfigError("kernel=triton on the CPU needs the Triton interpreter, but the "
                              "kernels were already imported without it; start the process "
                              "with TRITON_INTERPRET=1 or use kernel=torch")
    elif os.environ.get("TRITON_INTERPRET", "0") != "1":
        log.warning("kernel=triton on the CPU: running the Triton interpreter "
                    "(TRITON_INTERPRET=1 set for this process); timings are not speed")
        os.environ["TRITON_INTERPRET"] = "1"
    return "triton", True


def resolve_cache_dir(*candidates: str | None) -> Path:
    """First configured directory, else ~/.cache/avbench (XDG_CACHE_HOME respected)."""
    for candidate in candidates:
        if candidate:
            return Path(candidate).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "avbench"


def native_cpu_precision(dtype: torch.dtype) -> bool:
    """Whether this CPU has instructions for ``dtype`` matmuls/convs (else slow fallbacks).

    Without AVX512-FP16 or AMX-FP16, PyTorch runs float16 convolutions on the CPU
    through generic kernels that are often an order of magnitude slower than
    float32; the run still measures what ran, and says so.
    """
    if dtype == torch.float32:
        return True
    try:
        caps = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):
        return False
    if dtype == torch.float16:
        return bool(caps.get("avx512_fp16") or caps.get("amx_fp16"))
    if dtype == torch.bfloat16:
        return bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))
    return False
