"""Triton kernels compile on a CUDA device and run under the interpreter without one
(tests/conftest.py sets TRITON_INTERPRET=1 only then)."""

from __future__ import annotations

import pytest
import torch

from avbench.runtime import triton_available

if not triton_available():
    pytest.skip("triton is not installed (Linux only)", allow_module_level=True)

from kernels_triton import INTERPRETED  # noqa: E402

if not INTERPRETED and not torch.cuda.is_available():
    pytest.skip("no CUDA GPU and TRITON_INTERPRET was not set before kernels_triton was "
                "imported", allow_module_level=True)


@pytest.fixture
def device() -> torch.device:
    """The GPU when there is one, else the CPU (interpreter)."""
    return torch.device("cuda" if torch.cuda.is_available() and not INTERPRETED else "cpu")
