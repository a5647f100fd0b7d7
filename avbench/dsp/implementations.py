"""What task=kernels times: every implementation of each DSP family, built before timing.

Families: ``stft`` (power spectrogram), ``log_mel`` and ``f0``. Implementations: ``torch``
(ours, :mod:`avbench.dsp`), ``triton`` (ours, :mod:`kernels_triton`, when the kernel choice
resolves to it), ``torchaudio`` and ``librosa`` (what users would otherwise call; librosa is
optional). Every callable closes over prebuilt state (windows, filterbanks, bases), so a
timed call does only the work.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from avbench.dsp import functional as fn
from avbench.dsp.modules import LogMel, YinPitch

FAMILIES = ("stft", "log_mel", "f0")


@dataclass
class Impl:
    """One implementation of one family, ready to time.

    ``run`` does the timed work on ``audio_s`` seconds of input; ``output`` converts what it
    returned to what the accuracy check takes (a float64 array, or ``(f0_hz, voiced)``).
    """

    family: str
    name: str
    run: Callable[[], Any]
    audio_s: float
    output: Callable[[Any], Any]
    interpreted: bool = False
    flops: float | None = None  # work of our formulation, for GFLOP/s (triton only)
    bytes_moved: float = 0.0  # minimum traffic: input read + output written once
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Settings:
    sample_rate: int
    n_fft: int
    hop_length: int
    n_mels: int
    frame_length: int
    fmin: float
    fmax: float
    threshold: float = 0.1


def librosa_available() -> bool:
    return importlib.util.find_spec("librosa") is not None


def _sync(device: torch.device) -> Callable[[Any], Any]:
    """Make a timed call include the device work (CUDA launches are asynchronous)."""
    if device.type != "cuda":
        return lambda out: out
    return lambda out: (torch.cuda.synchronize(device), out)[1]


def _to_numpy(out: Any) -> np.ndarray:
    return out.detach().double().cpu().numpy() if isinstance(out, torch.Tensor) else out


def spectral_impls(family: str, s: Settings, audio: np.ndarray, device: torch.device,
                   triton: tuple[bool, torch.dtype, np.ndarray] | None) -> list[Impl]:
    """``stft`` or ``log_mel`` implementations on ``audio``.

    ``triton``: ``(interpreted, input dtype, clip)`` when the Triton kernel runs; an
    interpreted kernel gets the short ``clip`` instead of the whole input.
    """
    import torchaudio

    sync = _sync(device)
    seconds = len(audio) / s.sample_rate
    x = torch.from_numpy(audio).to(device)
    frames = 1 + len(audio) // s.hop_length
    out_rows = s.n_fft // 2 + 1 if family == "stft" else s.n_mels
    traffic = 4.0 * (len(audio) + frames * out_rows)
    impls = []
    if family == "stft":
        window = fn.hann_window(s.n_fft, device=device)
        impls.append(Impl(family, "torch", lambda: sync(fn.power_spectrogram(
            x, s.n_fft, s.hop_length, window)), seconds, _to_numpy, bytes_moved=traffic))
        spec = torchaudio.transforms.Spectrogram(
            n_fft=s.n_fft, hop_length=s.hop_length, power=2.0, pad_mode="constant").to(device)
        impls.append(Impl(family, "torchaudio", lambda: sync(spec(x)), seconds, _to_numpy,
                          bytes_moved=traffic))
    else:
        ours = LogMel(s.sample_rate, s.n_fft, s.hop_length, s.n_mels, kernel="torch").to(device)
        impls.append(Impl(family, "torch", lambda: sync(ours(x)), seconds, _to_numpy,
                          bytes_moved=traffic))
        mel = torchaudio.transforms.MelSpectrogram(
            s.sample_rate, n_fft=s.n_fft, hop_length=s.hop_length, n_mels=s.n_mels,
            pad_mode="constant", norm="slaney", mel_scale="slaney").to(device)
        impls.append(Impl(family, "torchaudio", lambda: sync(torch.log(torch.clamp(
            mel(x), min=fn.LOG_MEL_FLOOR))), seconds, _to_numpy, bytes_moved=traffic,
            note="MelSpectrogram + log"))
    if librosa_available():
        impls.append(_librosa_spectral(family, s, audio, seconds, traffic))
    if triton is not None:
        impls.append(_triton_spectral(family, s, device, *triton))
    return impls


def _librosa_spectral(family: str, s: Settings, audio: np.ndarray, seconds: float,
                      traffic: float) -> Impl:
    import librosa

    if family == "stft":
        def run() -> np.ndarray:
            spec = librosa.stft(audio, n_fft=s.n_fft, hop_length=s.hop_length,
                                pad_mode="constant")
            return spec.real ** 2 + spec.imag ** 2
    else:
        # librosa builds its filterbank on every call: that is what its users get.
        def run() -> np.ndarray:
            power = librosa.feature.melspectrogram(
                y=audio, sr=s.sample_rate, n_fft=s.n_fft, hop_length=s.hop_length,
                n_mels=s.n_mels, pad_mode="constant")
            return np.log(np.maximum(power, fn.LOG_MEL_FLOOR))
    return Impl(family, "librosa", run, seconds, _to_numpy, bytes_moved=traffic,
                note="feature.melspectrogram + log" if family == "log_mel" else "stft")


def _triton_spectral(family: str, s: Settings, device: torch.device, interpreted: bool,
                     dtype: torch.dtype, clip: np.ndarray) -> Impl:
    from kernels_triton.stft import dft_bases, stft_flops, stft_power

    sync = _sync(device)
    x = torch.from_numpy(clip).to(device=device, dtype=dtype)
    frames = 1 + len(clip) // s.hop_length
    flops = stft_flops(1, frames, s.n_fft)
    if family == "stft":
        bases = dft_bases(fn.hann_window(s.n_fft, device=device), dtype)
        run = lambda: sync(stft_power(x, bases, s.hop_length))  # noqa: E731
        rows = s.n_fft // 2 + 1
    else:
        module = LogMel(s.sample_rate, s.n_fft, s.hop_length, s.n_mels, kernel="triton").to(device)
        run = lambda: sync(module(x))  # noqa: E731
        flops += 2.0 * frames * (s.n_fft // 2 + 1) * s.n_mels
        rows = s.n_mels
    traffic = x.element_size() * len(clip) + 4.0 * frames * rows
    return Impl(family, "triton", run, len(clip) / s.sample_rate, _to_numpy,
                interpreted=interpreted, flops=flops, bytes_moved=traffic,
                note="fused STFT -> log-mel" if family == "log_mel" else "DFT as matmul")


def f0_impls(s: Settings, vocals: np.ndarray, device: torch.device,
             triton: tuple[bool, torch.dtype, np.ndarray] | None,
             pyin_clip: np.ndarray | None) -> list[Impl]:
    """F0 implementations; each ``output`` gives ``(f0_hz, voiced)`` on the label frame grid."""
    import torchaudio

    sync = _sync(device)
    seconds = len(vocals) / s.sample_rate
    x = torch.from_numpy(vocals).to(device)
    frames = 1 + len(vocals) // s.hop_length
    traffic = 4.0 * len(vocals) + 5.0 * frames
    yin_args = (s.sample_rate, s.frame_length, s.hop_length, s.fmin, s.fmax, s.threshold)

    def pair(out: Any) -> tuple[np.ndarray, np.ndarray]:
        return _to_numpy(out[0]), out[1].cpu().numpy()

    ours = YinPitch(*yin_args, kernel="torch").to(device)
    impls = [Impl("f0", "torch", lambda: sync(ours(x)), seconds, pair, bytes_moved=traffic,
                  note="YIN")]

    def detect() -> torch.Tensor:
        return sync(torchaudio.functional.detect_pitch_frequency(
            x, s.sample_rate, freq_low=int(s.fmin), freq_high=int(s.fmax)))

    def on_label_grid(out: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        # detect_pitch_frequency has its own 10 ms frames and no voicing decision.
        track = out.double().cpu().numpy()
        times = (np.arange(len(track)) + 0.5) * len(vocals) / len(track)
        grid = np.interp(np.arange(frames) * s.hop_length, times, track)
        return grid, np.ones(frames, dtype=bool)

    impls.append(Impl("f0", "torchaudio", detect, seconds, on_label_grid, bytes_moved=traffic,
                      note="detect_pitch_frequency (no voicing)"))
    if librosa_available():
        impls += _librosa_f0_impls(s, vocals, pyin_clip, seconds, traffic)
    if triton is not None:
        impls.append(_triton_f0_impl(s, device, triton, yin_args, pair))
    return impls


def _librosa_f0_impls(s: Settings, vocals: np.ndarray, pyin_clip: np.ndarray | None,
                      seconds: float, traffic: float) -> list[Impl]:
    """librosa's yin on the whole song and pyin on a clip (pyin is slow)."""
    import librosa

    found: list[Impl] = []

    def librosa_yin() -> np.ndarray:
        return librosa.yin(vocals, fmin=s.fmin, fmax=s.fmax, sr=s.sample_rate,
                           frame_length=s.frame_length, hop_length=s.hop_length,
                           trough_threshold=s.threshold)

    found.append(Impl("f0", "librosa_yin", librosa_yin, seconds,
                      lambda out: (out, np.ones(len(out), dtype=bool)),
                      bytes_moved=traffic, note="yin (no voicing)"))
    if pyin_clip is not None:
        def pyin() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return librosa.pyin(pyin_clip, fmin=s.fmin, fmax=s.fmax, sr=s.sample_rate,
                                frame_length=s.frame_length, hop_length=s.hop_length)

        found.append(Impl("f0", "librosa_pyin", pyin, len(pyin_clip) / s.sample_rate,
                          lambda out: (np.nan_to_num(out[0]), out[1]),
                          bytes_moved=4.0 * len(pyin_clip), note="pyin (clip)"))
    return found


def _triton_f0_impl(s: Settings, device: torch.device,
                    triton: tuple[bool, torch.dtype, np.ndarray], yin_args: tuple,
                    pair: Callable[[Any], tuple[np.ndarray, np.ndarray]]) -> Impl:
    """The Triton YIN kernel on a clip (the interpreter is slow on CPU)."""
    from kernels_triton.yin import yin as triton_yin
    from kernels_triton.yin import yin_flops, yin_periods

    interpreted, dtype, clip = triton
    xt = torch.from_numpy(clip).to(device=device, dtype=dtype)
    max_period = yin_periods(s.sample_rate, s.frame_length, s.fmin, s.fmax)[1]
    n = 1 + len(clip) // s.hop_length
    sync = _sync(device)
    return Impl("f0", "triton", lambda: sync(triton_yin(xt, *yin_args)),
                len(clip) / s.sample_rate, pair, interpreted=interpreted,
                flops=yin_flops(1, n, s.frame_length, max_period),
                bytes_moved=xt.element_size() * len(clip) + 5.0 * n, note="YIN")
