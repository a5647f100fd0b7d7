"""resolve_kernel: what kernel=auto|torch|triton means on this device."""

from __future__ import annotations

import os
import sys

import pytest
import torch

import avbench.runtime as runtime
from avbench.runtime import ConfigError, resolve_kernel

CPU = torch.device("cpu")


def test_torch_and_auto_on_cpu_are_the_torch_path() -> None:
    assert resolve_kernel("torch", CPU) == ("torch", False)
    assert resolve_kernel("auto", CPU) == ("torch", False)


def test_auto_on_cuda_is_triton_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda = torch.device("cuda", 0)
    monkeypatch.setattr(runtime, "triton_available", lambda: True)
    assert resolve_kernel("auto", cuda) == ("triton", False)
    monkeypatch.setattr(runtime, "triton_available", lambda: False)
    assert resolve_kernel("auto", cuda) == ("torch", False)


@pytest.mark.skipif(not runtime.triton_available(), reason="triton is not installed")
def test_triton_on_cpu_is_interpreted_and_sets_the_variable_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.startswith("kernels_triton")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert resolve_kernel("triton", CPU) == ("triton", True)
    assert os.environ["TRITON_INTERPRET"] == "1"


@pytest.mark.skipif(not runtime.triton_available(), reason="triton is not installed")
def test_triton_on_cpu_after_a_gpu_import_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import kernels_triton._common as common

    monkeypatch.setattr(common, "INTERPRETED", False)
    with pytest.raises(ConfigError, match="TRITON_INTERPRET=1"):
        resolve_kernel("triton", CPU)


def test_triton_without_the_package_and_unknown_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "triton_available", lambda: False)
    with pytest.raises(ConfigError, match="needs the triton package"):
        resolve_kernel("triton", CPU)
    with pytest.raises(ConfigError, match="kernel=auto, torch or triton"):
        resolve_kernel("cuda", CPU)
