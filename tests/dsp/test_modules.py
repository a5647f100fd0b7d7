"""avbench.dsp.modules: state built once, forward equals the functional form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avbench.dsp import functional as fn
from avbench.dsp.modules import LogMel, YinPitch

SR = 16000


@pytest.fixture(scope="module")
def audio() -> torch.Tensor:
    t = np.arange(SR) / SR
    tone = 0.5 * np.sin(2 * np.pi * 200.0 * t) + 0.01 * np.random.default_rng(0).standard_normal(SR)
    return torch.from_numpy(tone.astype(np.float32))


def test_log_mel_module_matches_functional_and_holds_buffers(audio):
    module = LogMel(SR, n_fft=512, hop_length=160, n_mels=64, f_max=7600.0)
    assert module.window.shape == (512,)
    assert module.mel_basis.shape == (257, 64)
    # Derived state is not checkpoint content.
    assert "window" not in module.state_dict() and "mel_basis" not in module.state_dict()
    expected = fn.log_mel_spectrogram(audio, SR, 512, 160, 64, f_max=7600.0)
    torch.testing.assert_close(module(audio), expected, rtol=0, atol=0)
    assert module(audio[None, None]).shape == (1, 1, 64, 1 + SR // 160)


def test_log_mel_module_does_not_rebuild_state(audio, monkeypatch):
    module = LogMel(SR, n_fft=512, hop_length=160, n_mels=64)

    def fail(*args, **kwargs):
        raise AssertionError("filterbank or window rebuilt inside forward")

    monkeypatch.setattr(fn, "mel_filterbank", fail)
    monkeypatch.setattr(fn, "hann_window", fail)
    assert module(audio).shape == (64, 1 + SR // 160)


def test_yin_module_returns_f0_and_voicing(audio):
    module = YinPitch(SR, frame_length=1024, hop_length=160, fmin=65.0, fmax=800.0)
    f0, voiced = module(audio)
    assert f0.shape == voiced.shape == (1 + SR // 160,)
    assert voiced.dtype == torch.bool
    inner = slice(4, -4)
    assert voiced[inner].all()
    np.testing.assert_allclose(f0[inner].numpy(), 200.0, rtol=5e-3)


@pytest.mark.parametrize("factory", [LogMel, YinPitch])
def test_unknown_kernel_is_a_clear_error(factory):
    with pytest.raises(ValueError, match="'torch', 'triton', 'auto'"):
        factory(SR, kernel="cuda")


@pytest.mark.parametrize("factory", [LogMel, YinPitch])
def test_triton_without_the_package_is_a_clear_error(factory, monkeypatch):
    import avbench.dsp.modules as modules

    monkeypatch.setattr(modules, "triton_available", lambda: False)
    with pytest.raises(ValueError, match="needs the triton package"):
        factory(SR, kernel="triton")
    assert factory(SR, kernel="auto").kernel == "torch"


def test_auto_kernel_runs_torch_on_cpu_tensors(audio, monkeypatch):
    import avbench.dsp.modules as modules

    module = LogMel(SR, n_fft=512, hop_length=160, n_mels=64, kernel="auto")
    monkeypatch.setattr(modules, "_triton_input", lambda _: pytest.fail("Triton used on CPU"))
    torch.testing.assert_close(module(audio), LogMel(SR, 512, 160, 64)(audio), rtol=0, atol=0)


def test_yin_module_rejects_bad_parameters_at_construction():
    with pytest.raises(ValueError, match="frame_length"):
        YinPitch(SR, frame_length=256, fmin=40.0)
