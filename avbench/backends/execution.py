"""What really ran: the kernels and precisions a library chose, read back from the library.

- ``onednn_kernels``: one call of a PyTorch module under oneDNN's verbose mode; the
  implementations of its executed primitives (``brg_conv_fwd:avx512_core_bf16`` says the
  ISA and data type), read from the lines oneDNN prints to the process's stdout.
- ``openvino_kernels``: an OpenVINO compiled model's runtime graph: each compute node's
  ``runtimePrecision`` and ``primitiveType`` (e.g. ``brgconv_avx512_bf16``).

Both give one short line for a tag (``backend.execution.<component>``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import torch

COMPUTE_OPS = ("Convolution", "GroupConvolution", "ConvolutionBackpropData", "MatMul",
               "FullyConnected", "Deconvolution")
ONEDNN_COMPUTE = ("convolution", "deconvolution", "matmul", "inner_product")
TOP = 3  # kernels named in a tag


@contextlib.contextmanager
def _captured_stdout() -> Iterator[list[str]]:
    """Lines written to file descriptor 1 (C code included) while the block runs."""
    lines: list[str] = []
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+") as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield lines
        finally:
            libc.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().splitlines())


def onednn_kernels(fn: Callable[..., Any], inputs: tuple[torch.Tensor, ...]) -> str:
    """The oneDNN implementations one call of ``fn`` executed, most used first, with their
    source data type (``brg_conv_fwd:avx512_core_bf16 bf16 x12``); "none (not oneDNN)"
    when no primitive ran through oneDNN."""
    with (torch.inference_mode(), _captured_stdout() as lines,
          torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON)):
        fn(*inputs)
    counts: Counter[str] = Counter()
    for line in lines:
        fields = line.split(",")
        if len(fields) > 8 and fields[0] == "onednn_verbose" and "exec" in fields[1:4]:
            at = fields.index("exec")
            kind, impl, descriptor = fields[at + 2], fields[at + 3], fields[at + 5]
            if kind not in ONEDNN_COMPUTE:
                continue
            dtype = descriptor.split(":")[1] if descriptor.startswith("src") else "?"
            counts[f"{impl} {dtype}"] += 1
    return summarise(counts) or "none (not oneDNN)"


def openvino_kernels(compiled: Any) -> str:
    """Each compute node's runtime precision and primitive in an OpenVINO compiled model."""
    counts: Counter[str] = Counter()
    for node in compiled.get_runtime_model().get_ordered_ops():
        info = node.get_rt_info()
        if "layerType" in info and info["layerType"].astype(str) in COMPUTE_OPS:
            counts[f"{info['primitiveType'].astype(str)} "
                   f"{info['runtimePrecision'].astype(str)}"] += 1
    return summarise(counts) or "none"


def summarise(counts: Counter[str]) -> str:
    return ", ".join(f"{name} x{count}" for name, count in counts.most_common(TOP))
