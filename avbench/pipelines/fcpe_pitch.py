"""The FCPE F0 method around its neural component: 16 kHz resampling and FCPE's mel before
it, and the track moved onto the pipeline's frame grid after it (all DSP, float32)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from avbench.models import fcpe


class FCPEFrontEnd(nn.Module):
    """``mel(waveform)``: the FCPE component's input; ``to_grid(f0, n_frames)``: its output
    on the pipeline's frames (``(f0_hz, voiced)``, like YinPitch)."""

    def __init__(self, sample_rate: int, hop_length: int, kernel: str = "torch") -> None:
        super().__init__()
        import torchaudio

        self.sample_rate = sample_rate
        self.hop_length = hop_length
        self.resample = torchaudio.transforms.Resample(sample_rate, fcpe.SAMPLE_RATE)
        self.fcpe_mel = fcpe.FCPEMel(kernel)

    def mel(self, waveform: Tensor) -> Tensor:
        """``(samples,)`` at the pipeline rate -> ``(1, 128, T)`` FCPE mel."""
        return self.fcpe_mel(self.resample(waveform.float()))[None]

    def to_grid(self, f0_hz: Tensor, n_frames: int) -> tuple[Tensor, Tensor]:
        """Linear interpolation of FCPE's 10 ms track (frame ``i`` centred at ``i * 160 + 80``
        samples at 16 kHz) at the pipeline's frame centres ``j * hop``; next to an unvoiced
        frame the nearest frame is taken, so voicing edges are not smeared."""
        times_s = torch.arange(n_frames, device=f0_hz.device) * (self.hop_length
                                                                 / self.sample_rate)
        position = ((times_s * fcpe.SAMPLE_RATE - fcpe.HOP_LENGTH / 2) / fcpe.HOP_LENGTH).clamp(
            0, f0_hz.shape[-1] - 1)
        low = position.floor().long()
        high = (low + 1).clamp(max=f0_hz.shape[-1] - 1)
        weight = position - low
        a, b = f0_hz[low], f0_hz[high]
        nearest = f0_hz[position.round().long()]
        track = torch.where((a > 0) & (b > 0), a + (b - a) * weight, nearest)
        return track, track > 0
