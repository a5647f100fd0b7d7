"""Triton's interpreter only without a CUDA device: with one, the kernels under test compile."""

from __future__ import annotations

import torch

from kernels_triton import INTERPRETED
from tests.conftest import interpret_triton


def test_the_interpreter_is_switched_on_only_without_a_cuda_device() -> None:
    without: dict[str, str] = {}
    interpret_triton(without, cuda_available=False)
    assert without == {"TRITON_INTERPRET": "1"}
    with_gpu: dict[str, str] = {}
    interpret_triton(with_gpu, cuda_available=True)
    assert with_gpu == {}  # compiled kernels
    chosen = {"TRITON_INTERPRET": "0"}
    interpret_triton(chosen, cuda_available=False)
    assert chosen == {"TRITON_INTERPRET": "0"}  # what the user set wins


def test_this_session_interprets_exactly_when_there_is_no_gpu() -> None:
    """What the kernels were decorated with in this test process (kernels_triton reads the
    variable at import, as triton.jit does)."""
    assert INTERPRETED is (not torch.cuda.is_available())
