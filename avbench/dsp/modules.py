"""``nn.Module`` wrappers of :mod:`avbench.dsp.functional` that build their state once.

Windows and filterbanks are registered as buffers in ``__init__`` (they follow ``.to(device)``
and are never rebuilt inside a timed region); ``forward`` only calls the functional form.
``kernel`` selects the implementation: ``"torch"`` (this package, every device), ``"triton"``
(``kernels_triton``; CUDA, or the CPU under ``TRITON_INTERPRET=1``) or ``"auto"`` (Triton for
CUDA inputs when triton is installed, torch otherwise, decided per call from the input's
device). Triton state (DFT bases with the window folded in) is built in ``__init__`` too;
``kernels_triton`` is imported only when a Triton kernel may run.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from avbench.dsp import functional, spectral
from avbench.runtime import triton_available

SUPPORTED_KERNELS = ("torch", "triton", "auto")
# Dtypes the Triton kernels take as they are; others are cast to float32 first.
_TRITON_DTYPES = (torch.float32, torch.float16)


def _check_kernel(kernel: str, module: str) -> str:
    if kernel not in SUPPORTED_KERNELS:
        raise ValueError(f"{module}: kernel={kernel!r} is not one of {SUPPORTED_KERNELS}")
    if kernel != "torch" and not triton_available():
        if kernel == "triton":
            raise ValueError(f"{module}: kernel='triton' needs the triton package "
                             "(Linux; kernels_triton); use kernel='torch'")
        return "torch"  # auto without triton: the torch path everywhere
    return kernel


def _may_use_triton(kernel: str) -> bool:
    """Whether to import kernels_triton and build its state (never for auto without CUDA:
    importing the kernels fixes the interpreter choice for the whole process)."""
    return kernel == "triton" or (kernel == "auto" and torch.cuda.is_available())


def _uses_triton(kernel: str, waveform: Tensor) -> bool:
    return kernel == "triton" or (kernel == "auto" and waveform.is_cuda)


def _triton_input(waveform: Tensor) -> Tensor:
    """Contiguous float32/float16 input for the Triton wrappers (they compute in float32)."""
    if waveform.dtype not in _TRITON_DTYPES:
        waveform = waveform.float()
    return waveform.contiguous()


class LogMel(nn.Module):
    """Natural-log Slaney mel spectrogram, ``(..., time) -> (..., n_mels, frames)``.

    Matches ``log(clamp(librosa.feature.melspectrogram(..., power=power), floor))``; see
    :func:`avbench.dsp.functional.log_mel_spectrogram`. The Triton kernel computes the
    power mel (``power=2``); other powers run the torch path on every device.
    """

    window: Tensor
    mel_basis: Tensor
    mel_pair_weights: Tensor
    dft_cos: Tensor
    dft_sin: Tensor

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
        power: float = 2.0,
        floor: float = functional.LOG_MEL_FLOOR,
    ) -> None:
        super().__init__()
        self.kernel = _check_kernel(kernel, "LogMel")
        self.power = power
        self.floor = floor
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
        plan = spectral.mel_plan(self.mel_basis)
        self.mel_blocks = plan.blocks  # ints: device-independent
        self.register_buffer("mel_pair_weights", plan.pair_weights, persistent=False)
        self._half_bases: tuple[Tensor, Tensor] | None = None
        self._triton_log_mel: Callable[..., Tensor] | None = None
        if _may_use_triton(self.kernel) and power == 2.0:
            from kernels_triton.mel import log_mel
            from kernels_triton.stft import dft_bases

            self._triton_log_mel = log_mel
            cos, sin = dft_bases(self.window)
            self.register_buffer("dft_cos", cos, persistent=False)
            self.register_buffer("dft_sin", sin, persistent=False)

    def _bases(self, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """DFT bases in the input's dtype; the float16 copy is made on first use only."""
        if dtype == torch.float32:
            return self.dft_cos, self.dft_sin
        if self._half_bases is None or self._half_bases[0].device != self.dft_cos.device:
            self._half_bases = (self.dft_cos.half(), self.dft_sin.half())
        return self._half_bases

    def forward(self, waveform: Tensor) -> Tensor:
        """``waveform (..., time)`` -> log-mel ``(..., n_mels, 1 + time // hop_length)``."""
        if self._triton_log_mel is not None and _uses_triton(self.kernel, waveform):
            signal = _triton_input(waveform)
            return self._triton_log_mel(signal, self._bases(signal.dtype), self.mel_basis,
                                        self.hop_length, self.center, self.floor)
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
            plan=spectral.MelPlan(self.mel_blocks, self.mel_pair_weights),
            power=self.power,
            floor=self.floor,
        )

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop_length={self.hop_length}, "
            f"n_mels={self.n_mels}, f_min={self.f_min}, f_max={self.f_max}, "
            f"center={self.center}, kernel={self.kernel!r}, power={self.power}, "
            f"floor={self.floor}"
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
        self._triton_yin: Callable[..., tuple[Tensor, Tensor]] | None = None
        if _may_use_triton(self.kernel):
            from kernels_triton.yin import yin, yin_periods

            yin_periods(sample_rate, frame_length, fmin, fmax)  # the kernel's own size limits
            self._triton_yin = yin

    def forward(self, waveform: Tensor) -> tuple[Tensor, Tensor]:
        """``waveform (..., time)`` -> ``(f0_hz, voiced)``, each ``(..., 1 + time // hop)``."""
        if self._triton_yin is not None and _uses_triton(self.kernel, waveform):
            return self._triton_yin(_triton_input(waveform), self.sample_rate,
                                    self.frame_length, self.hop_length, self.fmin, self.fmax,
                                    self.threshold)
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
