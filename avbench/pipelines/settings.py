"""Settings of the singing-voice-conversion pipeline that a preset chooses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SVCSettings:
    """Model sizes and algorithm settings; fast < balanced < quality in compute.

    The hop is shared by the separation STFT, the content mel, the F0 frames
    and the vocoder, so every stage works on the same frame grid.
    """

    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 80
    separation_channels: int = 16
    separation_depth: int = 3
    f0_method: str = "yin"
    f0_frame_length: int = 2048
    f0_fmin_hz: float = 65.0
    f0_fmax_hz: float = 1000.0
    f0_threshold: float = 0.1
    hidden: int = 192
    content_layers: int = 4
    flow_layers: int = 4
    n_flows: int = 4
    speaker_dim: int = 256
    vocoder: str = "v3"
    # Long inputs in pieces (avbench/pipelines/pieces.py); 0 = the whole input in one call.
    separation_segment_frames: int = 512  # Spleeter's T: 11.9 s on the 2048/512 grid
    vocoder_chunk_frames: int = 512  # 5.9 s at hop 256, plus the receptive radius either side
    peak_dbfs: float = -1.0
