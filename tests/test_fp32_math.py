"""precision.tf32: torch's float32 math settings inside a run on CUDA, strict by default,
restored afterwards; the CPU untouched. The flags are process settings, so they are set
and read here without a device; what they do to a convolution needs one."""

from __future__ import annotations

import pytest
import torch

from avbench.runtime import fp32_math, fp32_math_for, fp32_math_state, tf32_allowed

CUDA, CPU = torch.device("cuda"), torch.device("cpu")


def test_a_cuda_run_is_strict_fp32_unless_tf32_is_asked_for() -> None:
    before = fp32_math_state()
    with fp32_math(CUDA, tf32=False):
        assert fp32_math_state() == fp32_math_for(False)
        assert torch.get_float32_matmul_precision() == "highest"
        if hasattr(torch.backends.cudnn, "conv"):  # torch 2.9+: cuDNN's default is TF32
            assert torch.backends.cudnn.conv.fp32_precision == "ieee"
            assert torch.backends.cudnn.rnn.fp32_precision == "ieee"
        assert not tf32_allowed()
        with fp32_math(CUDA, tf32=True):
            assert fp32_math_state() == fp32_math_for(True) and tf32_allowed()
            assert torch.get_float32_matmul_precision() == "high"  # still readable
        assert not tf32_allowed()
    assert fp32_math_state() == before


def test_the_settings_are_restored_after_an_error() -> None:
    before = fp32_math_state()
    with pytest.raises(RuntimeError), fp32_math(CUDA, tf32=True):
        raise RuntimeError("a failed run")
    assert fp32_math_state() == before


def test_a_cpu_run_leaves_torchs_settings_alone() -> None:
    before = fp32_math_state()
    with fp32_math(CPU, tf32=True):
        assert fp32_math_state() == before


def test_torchs_own_default_lets_convolutions_use_tf32() -> None:
    """Why a run must set them: out of the box cuDNN convolutions may use TF32."""
    assert tf32_allowed({"matmul": "highest", "cudnn.conv": "tf32", "cudnn.rnn": "tf32"})
    assert tf32_allowed({"matmul": "highest", "cudnn.allow_tf32": True})  # torch < 2.9
    assert not tf32_allowed(fp32_math_for(False))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_strict_fp32_convolution_and_matmul_on_cuda() -> None:
    """With TF32 (Ampere and newer) a float32 convolution or matmul rounds its inputs to 10
    mantissa bits: ~1e-3 relative error. Strict float32 stays near 1e-6."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 64, 2048, generator=generator, dtype=torch.float64)
    w = torch.randn(128, 64, 5, generator=generator, dtype=torch.float64)
    exact = torch.nn.functional.conv1d(x, w)
    a, b = x[0].T.contiguous(), x[1].contiguous()
    with fp32_math(CUDA, tf32=False):
        conv = torch.nn.functional.conv1d(x.float().cuda(), w.float().cuda()).double().cpu()
        matmul = (a.float().cuda() @ b.float().cuda()).double().cpu()
    assert ((conv - exact).norm() / exact.norm()).item() < 1e-5
    assert ((matmul - a @ b).norm() / (a @ b).norm()).item() < 1e-5
