"""DNSMOS P.835 (Reddy et al. 2022, Microsoft): a non-intrusive MOS estimate of speech.

The ``sig_bak_ovr.onnx`` model of speechmos 0.0.1.1 (Microsoft's DNS-Challenge release) on
ONNX Runtime's CPU provider, as speechmos runs it: 16 kHz audio in [-1, 1], repeated until it
lasts 9.01 s, scored over 9.01 s windows every second, each raw score mapped through
Microsoft's polynomial fit to P.835 SIG (speech), BAK (background) and OVRL (overall), then
averaged. Scores are 1 (bad) .. 5 (excellent).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from avbench.audio.io import resample
from avbench.models.pretrained import WEIGHTS, fetch

SAMPLE_RATE = 16000
WINDOW_S = 9.01
WEIGHT_KEY = "dnsmos"
# speechmos/dnsmos.py get_polyfit_val (not personalised)
_FITS = {"sig": (-0.08397278, 1.22083953, 0.0052439),
         "bak": (-0.13166888, 1.60915514, -0.39604546),
         "ovrl": (-0.06766283, 1.11546468, 0.04602535)}


class DNSMOS:
    """``DNSMOS(cache_dir)(audio, sample_rate) -> {"sig", "bak", "ovrl"}``."""

    def __init__(self, cache_dir: str | os.PathLike[str]) -> None:
        import onnxruntime

        self.tag = WEIGHTS[WEIGHT_KEY].tag
        self.session: Any = onnxruntime.InferenceSession(
            str(fetch(WEIGHT_KEY, cache_dir)), providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, audio: np.ndarray, sample_rate: int) -> dict[str, float]:
        signal = resample(np.asarray(audio, dtype=np.float32), sample_rate, SAMPLE_RATE)
        signal = np.clip(signal, -1.0, 1.0)
        window = int(WINDOW_S * SAMPLE_RATE)
        if not signal.size:
            raise ValueError("DNSMOS needs a non-empty signal")
        while len(signal) < window:
            signal = np.append(signal, signal)
        hops = int(np.floor(len(signal) / SAMPLE_RATE) - WINDOW_S) + 1
        raw = []
        for hop in range(hops):
            segment = signal[hop * SAMPLE_RATE : hop * SAMPLE_RATE + window]
            if len(segment) == window:
                raw.append(self.session.run(None, {self.input_name: segment[None]})[0][0])
        sig, bak, ovrl = np.mean(np.asarray(raw, dtype=np.float64), axis=0)
        return {name: float(np.poly1d(_FITS[name])(value))
                for name, value in (("sig", sig), ("bak", bak), ("ovrl", ovrl))}
