"""Turn config choices into what runs: device, dtype, DSP kernel, cache directory."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import sys
from collections.abc import Iterator
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


def is_fp32_eager_reference(backend: str, dtype: str, kernel: str, tf32: bool) -> bool:
    """fp32 eager PyTorch with the torch kernels, without TF32: the run the parity
    reference is built as (the one run no gate holds to a precision's thresholds)."""
    return backend == "pytorch" and dtype == "float32" and kernel == "torch" and not tf32


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


def _cudnn_ops() -> list[Any]:
    """cuDNN's per-operator precision settings (torch 2.9+), or [] on older torch."""
    cudnn = torch.backends.cudnn
    return [op for op in (getattr(cudnn, "conv", None), getattr(cudnn, "rnn", None))
            if op is not None and hasattr(op, "fp32_precision")]


def fp32_math_state() -> dict[str, Any]:
    """How float32 matmuls and cuDNN convolutions/RNNs may compute on CUDA right now."""
    state: dict[str, Any] = {"matmul": torch.get_float32_matmul_precision()}
    ops = _cudnn_ops()
    if ops:
        state |= {"cudnn.conv": ops[0].fp32_precision, "cudnn.rnn": ops[-1].fp32_precision}
    else:
        state["cudnn.allow_tf32"] = torch.backends.cudnn.allow_tf32
    return state


def tf32_allowed(state: dict[str, Any] | None = None) -> bool:
    """Whether the settings (default: those in force) let float32 matmuls or cuDNN
    convolutions use TF32 on CUDA (torch's own default: convolutions yes, matmuls no)."""
    state = fp32_math_state() if state is None else state
    return (state["matmul"] != "highest" or state.get("cudnn.conv") == "tf32"
            or bool(state.get("cudnn.allow_tf32", False)))


def _apply_fp32_math(state: dict[str, Any]) -> None:
    torch.set_float32_matmul_precision(state["matmul"])
    ops = _cudnn_ops()
    if ops:
        ops[0].fp32_precision, ops[-1].fp32_precision = state["cudnn.conv"], state["cudnn.rnn"]
    else:
        torch.backends.cudnn.allow_tf32 = state["cudnn.allow_tf32"]


def fp32_math_for(tf32: bool) -> dict[str, Any]:
    """The settings of strict IEEE float32 math (``tf32=False``) or of TF32 allowed.

    Matmuls through ``torch.set_float32_matmul_precision`` ("highest" | "high"), which keeps
    CUDA's and oneDNN's matmul settings consistent (setting only
    ``torch.backends.cuda.matmul.fp32_precision = "tf32"`` leaves them mixed, and
    ``torch.get_float32_matmul_precision()``, which Inductor's autotuning reads, then
    raises). Convolutions and RNNs, whose cuDNN default is TF32, through
    ``torch.backends.cudnn.{conv,rnn}.fp32_precision`` ("ieee" | "tf32") on torch 2.9+, else
    the legacy ``torch.backends.cudnn.allow_tf32``.
    """
    state: dict[str, Any] = {"matmul": "high" if tf32 else "highest"}
    if _cudnn_ops():
        return state | {"cudnn.conv": "tf32" if tf32 else "ieee",
                        "cudnn.rnn": "tf32" if tf32 else "ieee"}
    return state | {"cudnn.allow_tf32": tf32}


@contextlib.contextmanager
def fp32_math(device: torch.device, tf32: bool) -> Iterator[None]:
    """float32 math of a run on ``device``: strict (``tf32=False``) or allowed TF32 tensor
    cores (``precision.tf32``) inside the block, the previous settings restored after it.
    Nothing changes on other devices (CPU matmuls are left to their defaults)."""
    if device.type != "cuda":
        yield
        return
    saved = fp32_math_state()
    _apply_fp32_math(fp32_math_for(tf32))
    try:
        yield
    finally:
        _apply_fp32_math(saved)
