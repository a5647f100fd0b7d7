"""Singing-voice conversion: separation -> f0_extraction -> conversion -> vocoder -> mixing.

Everything (models, windows, filterbanks, the speaker embedding) is built in
``__init__``; ``run`` only computes. Neural components run in the pipeline's
dtype; DSP (STFT, mel, YIN, mixing) stays float32.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from avbench.audio.synth import load_voice_profile
from avbench.dsp.modules import LogMel, YinPitch
from avbench.models import load_checkpoint
from avbench.models.hifigan_pretrained import SAMPLE_RATE as HIFIGAN_RATE
from avbench.models.hifigan_pretrained import HiFiGANMel
from avbench.pipelines.base import Component, Pipeline, Stage, State
from avbench.pipelines.fcpe_pitch import FCPEFrontEnd
from avbench.pipelines.pieces import check_longest, in_segments, overlapped
from avbench.pipelines.settings import SVCSettings
from avbench.pipelines.svc_modules import build_modules, example_inputs

log = logging.getLogger(__name__)

# Component -> names of its graph inputs (ONNX / TensorRT tensor names).
COMPONENTS = {
    "separation": ("magnitude",),
    "content_encoder": ("mel",),
    "pitch_encoder": ("f0_hz",),
    "flow_decoder": ("hidden", "speaker"),
    "mel_projection": ("latent",),
    "vocoder": ("mel",),
    "f0": ("mel",),  # f0_method=fcpe
}
# Separation segments are cut at multiples of this many frames: the U-Nets pad time to a
# multiple of 2**depth (Spleeter's: 64), so no segment but the last adds padding.
SEGMENT_MULTIPLE = 64


class SVCPipeline(Pipeline):
    """Converts the singing voice of a song to a target voice and remixes it."""

    name = "svc"
    audio_keys = frozenset({"vocals", "accompaniment", "converted", "output"})
    parity_by_stage = True
    quality_fields = {"separation": "separation", "f0_extraction": "f0", "vocoder": "vocoder"}

    def __init__(
        self,
        settings: SVCSettings | Mapping[str, Any],
        voice_profile: str | Path,
        sample_rate: int = 22050,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        kernel: str = "torch",
        checkpoint: str | Path | None = None,
        seed: int = 0,
        name: str = "svc",
        weights: str = "seeded",
        weights_cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(torch.device(device), sample_rate)
        self.name = name
        self.settings = settings if isinstance(settings, SVCSettings) else SVCSettings(**settings)
        self.dtype = dtype
        self.kernel = kernel
        s = self.settings
        check_longest(s.separation_segment_frames, SEGMENT_MULTIPLE,
                      "preset.svc.separation_segment_frames")
        modules, self.weights, self.separation_grid = build_modules(s, seed, weights,
                                                                    weights_cache_dir)
        self.loaded_components = load_checkpoint(checkpoint, modules) if checkpoint else []
        for component in self.loaded_components:
            self.weights[component] = f"checkpoint:{Path(checkpoint).name}"
        self._place(modules)
        self.speaker = self._speaker(voice_profile)
        self._build_dsp(modules)
        self.peak = 10.0 ** (s.peak_dbfs / 20.0)
        self.components = {
            name: Component(name, module, example_inputs(name, s, self.separation_grid,
                                                          self.device, dtype, sample_rate),
                            COMPONENTS[name])
            for name, module in modules.items()
        }
        self.stages = [
            Stage("separation", self._separation, ("separation",), ("vocals",)),
            Stage("f0_extraction", self._f0_extraction, ("f0",) if self.fcpe else (),
                  ("f0_hz",)),
            Stage("conversion", self._conversion,
                  ("content_encoder", "pitch_encoder", "flow_decoder", "mel_projection"),
                  ("converted_mel",)),
            Stage("vocoder", self._vocoder, ("vocoder",), ("converted",)),
            Stage("mixing", self._mixing, (), ("output",)),
        ]

    def _place(self, modules: Mapping[str, nn.Module]) -> None:
        """Fold weight norm, move to the run's device and dtype, check the vocoder's hop."""
        for module in modules.values():
            if hasattr(module, "remove_weight_norm"):
                module.remove_weight_norm()
            module.to(self.device, self.dtype).eval().requires_grad_(False)
        self.hop_length = modules["vocoder"].hop_length
        self.vocoder_context = modules["vocoder"].config.receptive_radius
        if self.hop_length != self.settings.hop_length:
            raise ValueError(
                f"preset hop_length={self.settings.hop_length} but the HiFi-GAN "
                f"{self.settings.vocoder} vocoder upsamples by {self.hop_length}; set "
                f"preset.svc.hop_length={self.hop_length}")

    def _speaker(self, voice_profile: str | Path) -> torch.Tensor:
        embedding = torch.from_numpy(load_voice_profile(voice_profile))
        if embedding.numel() != self.settings.speaker_dim:
            raise ValueError(
                f"voice profile embedding has {embedding.numel()} values, "
                f"the flow expects preset.svc.speaker_dim={self.settings.speaker_dim}"
            )
        with torch.inference_mode():  # an inference tensor, like every input built in run()
            return embedding.reshape(1, -1, 1).to(self.device, self.dtype).clone()

    def _build_dsp(self, modules: Mapping[str, nn.Module]) -> None:
        """The DSP around the components: STFT window, log-mel, F0 front ends, and
        HiFi-GAN's own mel for the vocoder's copy-synthesis (when the sizes are its sizes)."""
        s, sample_rate, kernel = self.settings, self.sample_rate, self.kernel
        self.window = torch.hann_window(self.separation_grid.n_fft, device=self.device)
        self.log_mel = LogMel(sample_rate, n_fft=s.n_fft, hop_length=s.hop_length,
                              n_mels=s.n_mels, kernel=kernel).to(self.device)
        self.fcpe = (FCPEFrontEnd(sample_rate, s.hop_length, kernel).to(self.device)
                     if "f0" in modules else None)
        self.pitch = YinPitch(sample_rate, frame_length=s.f0_frame_length,
                              hop_length=s.hop_length, fmin=s.f0_fmin_hz, fmax=s.f0_fmax_hz,
                              threshold=s.f0_threshold, kernel=kernel).to(self.device)
        self.vocoder_mel = (HiFiGANMel(kernel).to(self.device)
                            if (sample_rate, s.n_mels, s.hop_length) == (HIFIGAN_RATE, 80, 256)
                            else None)

    def describe(self) -> dict[str, Any]:
        """What the config does not already say (its settings are params of their own):
        parameter counts and the components loaded from the checkpoint."""
        params = {name: sum(p.numel() for p in c.module.parameters())
                  for name, c in self.components.items()}
        return {"parameters": params, "checkpoint_components": list(self.loaded_components),
                "weights": dict(self.weights)}

    # Stages: each reads the state earlier stages wrote and adds its own keys.

    def _separation(self, state: State) -> None:
        mix = state["input"].to(self.device, torch.float32)
        grid = self.separation_grid
        spec = torch.stft(mix, grid.n_fft, grid.hop_length, window=self.window, center=True,
                          return_complex=True)
        magnitude = spec.abs()[None].to(self.dtype).contiguous()  # stft leaves it transposed
        mask = in_segments(self.components["separation"], magnitude,
                           self.settings.separation_segment_frames, SEGMENT_MULTIPLE)[0].float()
        length = mix.shape[-1]
        state["vocals"] = self._istft(spec * mask, length)
        state["accompaniment"] = self._istft(spec * (1.0 - mask), length)

    def _istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        grid = self.separation_grid
        return torch.istft(spec, grid.n_fft, grid.hop_length, window=self.window, center=True,
                           length=length)

    def extract_f0(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """F0 in Hz and the voiced mask of ``waveform``, as the f0_extraction stage does it."""
        signal = waveform.to(self.device, torch.float32)
        if self.fcpe is None:
            return self.pitch(signal)
        mel = self.fcpe.mel(signal).to(self.dtype).contiguous()
        f0_hz = self.components["f0"](mel)[0].float()
        return self.fcpe.to_grid(f0_hz, 1 + signal.shape[-1] // self.hop_length)

    def resynthesize(self, waveform: torch.Tensor) -> torch.Tensor | None:
        """The vocoder's copy-synthesis of ``waveform`` from HiFi-GAN's mel of it, through the
        prepared vocoder component; None when the pipeline's mel is not HiFi-GAN's."""
        if self.vocoder_mel is None:
            return None
        signal = waveform.to(self.device, torch.float32).reshape(-1)
        # One extra hop makes the frame count the pipeline's own (1 + samples // hop).
        mel = self.vocoder_mel(torch.nn.functional.pad(signal, (0, self.hop_length)))
        wave = self._vocode(mel[None].to(self.dtype).contiguous())
        return wave.float().reshape(-1)[: signal.shape[-1]]

    def _f0_extraction(self, state: State) -> None:
        state["f0_hz"], state["voiced"] = self.extract_f0(state["vocals"])

    def _conversion(self, state: State) -> None:
        c = self.components
        mel = self.log_mel(state["vocals"])[None].to(self.dtype)
        f0_hz = torch.where(state["voiced"], state["f0_hz"], 0.0)[None].to(self.dtype)
        frames = min(mel.shape[-1], f0_hz.shape[-1])
        hidden = c["content_encoder"](mel[..., :frames]) + c["pitch_encoder"](f0_hz[..., :frames])
        latent = c["flow_decoder"](hidden, self.speaker)
        state["converted_mel"] = c["mel_projection"](latent)

    def _vocoder(self, state: State) -> None:
        wave = self._vocode(state["converted_mel"])
        state["converted"] = wave.float().reshape(-1)[: state["input"].shape[-1]]

    def _vocode(self, mel: torch.Tensor) -> torch.Tensor:
        return overlapped(self.components["vocoder"], mel, self.settings.vocoder_chunk_frames,
                          self.vocoder_context, self.hop_length)

    def _mixing(self, state: State) -> None:
        vocals, converted = state["vocals"], state["converted"]
        accompaniment = state["accompaniment"][: converted.shape[-1]]
        # Match the converted voice's loudness to the separated voice it replaces.
        gain = vocals.square().mean().sqrt() / converted.square().mean().sqrt().clamp_min(1e-8)
        mixed = converted * gain + accompaniment
        peak = mixed.abs().max().clamp_min(1e-8)
        state["output"] = mixed * torch.clamp(self.peak / peak, max=1.0)
