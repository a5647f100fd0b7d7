"""``nn.Module`` wrappers of :mod:`avbench.dsp.functional` that build their state once.

Windows and filterbanks are registered as buffers in ``__init__`` (they follow ``.to(device)``
and are never rebuilt inside a timed region); ``forward`` only calls the functional form.
``kernel`` selects the implementation; only ``"torch"`` exists here, Triton kernels are added
by ``kernels_triton``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from avbench.dsp import functional

SUPPORTED_KERNELS = ("torch",)


def _check_kernel(kernel: str, module: str) -> str:
    if kernel not in SUPPORTED_KERNELS:
        raise ValueError(
            f"{module}: kernel={kernel!r} is not available here; only 'torch' is implemented in "
            "avbench.dsp.modules (Triton kernels come from kernels_triton)"
        )
    return kernel


class LogMel(nn.Module):
    """Natural-log Slaney mel power spectrogram, ``(..., time) -> (..., n_mels, frames)``.

    Matches ``log(clamp(librosa.feature.melspectrogram(...), 1e-10))``; see
    :func:`avbench.dsp.functional.log_mel_spectrogram`.
    """

    window: Tensor
    mel_basis: Tensor

    def __init__(
        self,
        sample_rate: int,
        n_fft: int = 1024,
        hop_length: int = 256,
        n_mels: int = 80,
        f_min: float = 0.0,
        f_max: float | None = None,
        center: bool = True,
        kernel: str = "torch",
    ) -> None:
        super().__init__()
        self.kernel = _check_kernel(kernel, "LogMel")
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.f_min = f_min
        self.f_max = f_max
        self.center = center
        self.register_buffer("window", functional.hann_window(n_fft), persistent=False)
        self.register_buffer(
            "mel_basis",
            functional.mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max),
            persistent=False,
        )

    def forward(self, waveform: Tensor) -> Tensor:
        """``waveform (..., time)`` -> log-mel ``(..., n_mels, 1 + time // hop_length)``."""
        return functional.log_mel_spectrogram(
            waveform,
            self.sample_rate,
            self.n_fft,
            self.hop_length,
            self.n_mels,
            self.f_min,
            self.f_max,
            self.center,
            window=self.window,
            mel_basis=self.mel_basis,
        )

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop_length={self.hop_length}, "
            f"n_mels={self.n_mels}, f_min={self.f_min}, f_max={self.f_max}, "
            f"center={self.center}, kernel={self.kernel!r}"
        )


class YinPitch(nn.Module):
    """YIN F0 tracker, ``(..., time) -> (f0_hz (..., frames), voiced (..., frames))``.

    Frame-for-frame ``librosa.yin``; ``voiced`` is True where a CMNDF trough fell below
    ``threshold``. ``f0_hz`` holds an estimate for every frame (also unvoiced ones), so mask it
    with ``voiced`` before use. See :func:`avbench.dsp.functional.yin`.
    """

    def __init__(
        self,
        sample_rate: int,
        frame_length: int = 2048,
        hop_length: int = 256,
        fmin: float = 65.0,
        fmax: float = 1000.0,
        threshold: float = 0.1,
        kernel: str = "torch",
    ) -> None:
        super().__init__()
        self.kernel = _check_kernel(kernel, "YinPitch")
        self.sample_rate = sample_rate
        self.frame_length = frame_length
        self.hop_length = hop_length
        self.fmin = fmin
        self.fmax = fmax
        self.threshold = threshold
        # Fail at construction, not at the first (possibly timed) call, on bad parameters.
        functional.yin(
            torch.zeros(frame_length),
            sample_rate,
            frame_length,
            hop_length,
            fmin,
            fmax,
            threshold,
        )

    def forward(self, waveform: Tensor) -> tuple[Tensor, Tensor]:
        """``waveform (..., time)`` -> ``(f0_hz, voiced)``, each ``(..., 1 + time // hop)``."""
        f0_hz, voiced = functional.yin(
            waveform,
            self.sample_rate,
            self.frame_length,
            self.hop_length,
            self.fmin,
            self.fmax,
            self.threshold,
            return_voicing=True,
        )
        return f0_hz, voiced

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, frame_length={self.frame_length}, "
            f"hop_length={self.hop_length}, fmin={self.fmin}, fmax={self.fmax}, "
            f"threshold={self.threshold}, kernel={self.kernel!r}"
        )
