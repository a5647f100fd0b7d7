"""Triton kernels for the DSP hot paths: STFT power, log-mel and YIN (one family per file).

Each file holds the ``@triton.jit`` kernel(s), a Python wrapper that validates its inputs and
launches them, and ``autotune_configs()`` (a single config under the interpreter). The torch
references live in :mod:`avbench.dsp.functional`; this package imports only torch and triton.

``TRITON_INTERPRET=1`` must be set before this package is imported: ``triton.jit`` decides at
decoration time whether a kernel is compiled for the GPU or run by the (slow, CPU) interpreter.
"""

# Shared parts live in _common so the kernel files import them the same way whether this
# directory is a regular package or (in an editable install made before it had an
# __init__.py) a namespace package.
from kernels_triton._common import INTERPRETED, SUPPORTED_DTYPES, KernelInputError, check_input

__all__ = ["INTERPRETED", "SUPPORTED_DTYPES", "KernelInputError", "check_input"]
