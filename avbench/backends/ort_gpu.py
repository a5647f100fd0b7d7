"""What ONNX Runtime needs to run on CUDA beside torch, each piece checkable on the CPU.

The compute stream (torch's, never the default one), the run options (no synchronisation
per call), the CUDA provider's precision options (no TF32 for fp32), the TensorRT
provider's explicit optimisation profile, and the version of the TensorRT library that
provider loads (what its engines are keyed on).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.metadata
import logging
import sys
from pathlib import Path
from typing import Any

import torch

from avbench.backends.elf import elf_needed, soname_major
from avbench.backends.export import Shape
from avbench.backends.tensorrt import BackendBuildError

# Stream handles CUDA reserves (legacy default, cudaStreamLegacy, cudaStreamPerThread): ONNX
# Runtime cannot be given these as its compute stream.
SPECIAL_STREAMS = (0, 1, 2)

log = logging.getLogger(__name__)

# Distributions that each install the `onnxruntime` module: at most one may be present.
ORT_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-openvino", "onnxruntime-gpu")


def ort_distributions() -> list[str]:
    """The installed distributions among :data:`ORT_DISTRIBUTIONS`."""
    found = []
    for name in ORT_DISTRIBUTIONS:
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def ort_conflict(found: list[str]) -> str | None:
    """Why ``found`` cannot work together (they overwrite one module), with the fix."""
    if len(found) < 2:
        return None
    keep = "onnxruntime-gpu" if "onnxruntime-gpu" in found else found[-1]
    drop = " ".join(name for name in found if name != keep)
    extra = "gpu" if keep == "onnxruntime-gpu" else "cpu"
    return (f"{' and '.join(found)} are installed and overwrite one onnxruntime module: "
            f"pip uninstall -y {' '.join(found)} && pip install -e '.[{extra}]' "
            f"(keeps {keep}, drops {drop}; docs/gpu.md)")


def nvinfer_soname(provider_library: Path) -> str | None:
    """The ``libnvinfer.so.N`` a TensorRT provider library links against (its ``DT_NEEDED``
    entry, read from the file without loading it), or None when there is no such library."""
    try:
        needed = elf_needed(provider_library)
    except (OSError, ValueError):
        return None
    major = soname_major(needed, "nvinfer")
    return None if major is None else f"libnvinfer.so.{major}"


def ort_tensorrt_provider() -> Path:
    """Where this onnxruntime keeps its TensorRT provider library (absent in CPU builds)."""
    import onnxruntime

    return Path(onnxruntime.__file__).parent / "capi" / "libonnxruntime_providers_tensorrt.so"


def installed_nvinfer() -> dict[int, str]:
    """TensorRT majors whose ``libnvinfer.so.N`` an installed distribution ships (the
    ``tensorrt*-libs`` wheels), each with that distribution's name and version."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] or ""
        if not name.lower().startswith("tensorrt"):
            continue
        for file in dist.files or ():
            major = soname_major([Path(str(file)).name], "nvinfer")
            if major is not None:
                found[major] = f"{name} {dist.version}"
    return found


def trt_version_string(encoded: int) -> str:
    """``getInferLibVersion()``'s ``(major * 100 + minor) * 100 + patch`` as ``major.minor.patch``."""
    return f"{encoded // 10000}.{encoded // 100 % 100}.{encoded % 100}"


@functools.cache
def ort_tensorrt_version() -> str | None:
    """Version of the libnvinfer ONNX Runtime's TensorRT provider runs on, or None.

    Loaded here by the soname the provider library names: the dynamic linker then hands the
    provider this same copy (a soname is loaded once per process), so the version reported
    is the one that builds the engines; the Python ``tensorrt`` package may be another.
    """
    if not sys.platform.startswith("linux"):
        return None
    soname = nvinfer_soname(ort_tensorrt_provider())
    if soname is None:
        return None
    try:
        return trt_version_string(int(ctypes.CDLL(soname).getInferLibVersion()))
    except (OSError, AttributeError) as error:
        log.warning("cannot load %s to read its version (%s): the TensorRT provider's engine "
                    "cache is keyed on the soname only; put TensorRT's lib folder on "
                    "LD_LIBRARY_PATH", soname, error)
        return f"unresolved {soname}"


def compute_stream(device: torch.device) -> int:
    """The handle of torch's current stream on ``device``."""
    return int(torch.cuda.current_stream(device).cuda_stream)


def check_compute_stream(handle: int) -> int:
    """``handle``, refused when ONNX Runtime would not run on it: given the default
    stream it makes its own, whose work is unordered with torch's."""
    if handle in SPECIAL_STREAMS:
        raise BackendBuildError(
            f"ONNX Runtime cannot run on CUDA's default stream (handle {handle}): it would make "
            "its own stream, unordered with torch's work; prepare and run inside "
            "`with torch.cuda.stream(torch.cuda.Stream()):` (task=pipeline does)")
    return handle


def run_options() -> Any:
    """Per-call options: no synchronisation at the end of each call (ONNX Runtime drains
    the GPU after every ``run_with_iobinding`` otherwise); the stage clock synchronises."""
    import onnxruntime

    options = onnxruntime.RunOptions()
    options.add_run_config_entry("disable_synchronize_execution_providers", "1")
    return options


def cuda_ep_precision(dtype: torch.dtype, tf32: bool = False) -> dict[str, str]:
    """CUDA provider options for a graph of ``dtype``: no TF32 for fp32 (on by default)
    unless ``tf32`` (precision.tf32), so fp32 runs differ from eager only by summation
    order. The TensorRT provider has no such option: fp32 engines it builds may use TF32
    (tagged ``backend.tf32=on``)."""
    return {"use_tf32": "1" if tf32 else "0"} if dtype == torch.float32 else {}


def tensorrt_ep_profile(profiles: dict[str, tuple[Shape, Shape, Shape]]) -> dict[str, str]:
    """The TensorRT provider's explicit optimisation profile for the dynamic inputs, in its
    ``name:AxBxC,name2:...`` form (``trt_profile_{min,opt,max}_shapes``)."""
    dynamic = {name: shapes for name, shapes in profiles.items() if len(set(shapes)) > 1}
    if not dynamic:
        return {}
    return {f"trt_profile_{which}_shapes": ",".join(
                f"{name}:{'x'.join(str(dim) for dim in shapes[index])}"
                for name, shapes in dynamic.items())
            for index, which in enumerate(("min", "opt", "max"))}
