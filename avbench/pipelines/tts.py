"""Text-to-speech: text_frontend -> acoustic (text_encoder, duration_predictor, decoder)
-> vocoder.

The acoustic model is FastSpeech 2's architecture with seeded weights (it says
nothing about voice quality; ``describe()`` and the run's tags say so); the vocoder
is the same HiFi-GAN generator the SVC pipeline uses. The input of ``run`` is the
utterance as UTF-8 bytes in a uint8 tensor (``avbench.audio.texts.encode_text``), so
timing, parity and caching treat a text like any other input. ``stream`` yields the
audio in chunks: the acoustic model runs once, then the vocoder runs chunk by chunk
with enough mel context on each side that the chunks join without seams.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from avbench.audio.frontend import G2P
from avbench.audio.texts import TextInputError, decode_text
from avbench.models import HiFiGANGenerator, hifigan_config, hifigan_pretrained
from avbench.models.acoustic import DurationPredictor, MelDecoder, TextEncoder, regulate_length
from avbench.pipelines.base import Component, FrameRange, Pipeline, Stage, State

OPT_FRAMES_PER_PHONEME = 8  # engine profiles: mel frames per phoneme to tune for

COMPONENTS = {
    "text_encoder": ("tokens",),
    "duration_predictor": ("hidden",),
    "decoder": ("frames_hidden",),
    "vocoder": ("mel",),
}


@dataclass
class TTSSettings:
    """FastSpeech 2 sizes (the paper's: 256 hidden, 4 + 4 blocks, 2 heads, filter 1024)."""

    hidden: int = 256
    encoder_layers: int = 4
    decoder_layers: int = 4
    heads: int = 2
    filter_channels: int = 1024
    kernel_size: int = 9
    n_mels: int = 80
    vocoder: str = "v2"
    max_tokens: int = 1024  # the positional table of the encoder: phonemes per utterance
    max_frames: int = 8192  # and of the decoder: mel frames per utterance (~95 s)
    speed: float = 1.0
    stream_chunk_frames: int = 32  # mel frames the vocoder turns into one streamed chunk
    stream_context_frames: int = 8  # mel frames of context on each side of a chunk


class TTSPipeline(Pipeline):
    """Synthesises one utterance; components run in the pipeline's dtype."""

    name = "tts"
    voices = ("default",)  # one seeded speaker
    audio_keys = frozenset({"output"})
    parity_by_stage = True
    quality_fields = {"vocoder": "tts"}

    def __init__(self, settings: TTSSettings | Mapping[str, Any], sample_rate: int = 22050,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                 kernel: str = "torch", seed: int = 0, name: str = "tts",
                 weights: str = "seeded", weights_cache_dir: str | None = None) -> None:
        super().__init__(torch.device(device), sample_rate)
        self.name = name
        self.settings = settings if isinstance(settings, TTSSettings) else TTSSettings(**settings)
        self.dtype, self.kernel, self.seed = dtype, kernel, seed
        self.g2p = G2P()
        modules = _build_modules(self.settings, len(self.g2p.vocabulary), seed)
        self.weight_sources = {name: "seeded" for name in modules}
        if weights == "pretrained" and _has_pretrained_vocoder(self.settings):
            if weights_cache_dir is None:
                raise ValueError("weights=pretrained needs a weights cache directory")
            self.weight_sources["vocoder"] = hifigan_pretrained.load_pretrained(
                modules["vocoder"], weights_cache_dir)
        for module in modules.values():
            if hasattr(module, "remove_weight_norm"):
                module.remove_weight_norm()
            module.to(self.device, dtype).eval().requires_grad_(False)
        self.hop_length = modules["vocoder"].hop_length
        self.components = {
            name: Component(name, module, _example_inputs(name, self.settings, self.device,
                                                          dtype, len(self.g2p.vocabulary)),
                            COMPONENTS[name])
            for name, module in modules.items()
        }
        self.stages = [
            Stage("text_frontend", self._text_frontend, (), ()),
            Stage("acoustic", self._acoustic,
                  ("text_encoder", "duration_predictor", "decoder"), ("mel",)),
            Stage("vocoder", self._vocoder, ("vocoder",), ("output",)),
        ]

    def describe(self) -> dict[str, Any]:
        params = {name: sum(p.numel() for p in c.module.parameters())
                  for name, c in self.components.items()}
        return {"settings": asdict(self.settings), "parameters": params,
                "dtype": str(self.dtype).removeprefix("torch."),
                "vocabulary": len(self.g2p.vocabulary)}

    def tokens(self, text: str) -> torch.Tensor:
        ids = self.g2p.ids(text)
        if not ids:
            raise TextInputError(f"no speakable text in {text[:40]!r}")
        if len(ids) > self.settings.max_tokens:
            raise TextInputError(f"{len(ids)} phonemes exceed the model's limit of "
                             f"{self.settings.max_tokens}; use shorter utterances")
        return torch.tensor([ids], dtype=torch.long, device=self.device)

    def frame_range(self, encoded: torch.Tensor) -> FrameRange:
        """Time steps an engine must accept for this text: one up to the model's limit
        (phonemes for the encoder, mel frames after it), tuned for this utterance at about
        ``OPT_FRAMES_PER_PHONEME`` mel frames per phoneme."""
        phonemes = self.tokens(decode_text(encoded)).shape[-1]
        limit = self.settings.max_frames
        return FrameRange(1, min(max(phonemes * OPT_FRAMES_PER_PHONEME, 1), limit), limit)

    def _text_frontend(self, state: State) -> None:
        state["text"] = decode_text(state["input"])
        state["tokens"] = self.tokens(state["text"])

    def _acoustic(self, state: State) -> None:
        c, s = self.components, self.settings
        hidden = c["text_encoder"](state["tokens"])
        log_durations = c["duration_predictor"](hidden)
        frames_hidden, state["durations"] = regulate_length(hidden, log_durations,
                                                            s.max_frames, s.speed)
        state["mel"] = c["decoder"](frames_hidden)

    def _vocoder(self, state: State) -> None:
        state["output"] = self.components["vocoder"](state["mel"]).float().reshape(-1)

    def stream(self, text: torch.Tensor) -> Iterator[torch.Tensor]:
        """The utterance's audio in chunks of ``stream_chunk_frames * hop`` samples (the
        last may be shorter), each ready as soon as the vocoder has made it.

        Each chunk is a copy: a vocoder run as a CUDA graph (torch.compile's
        ``reduce-overhead``) returns its graph's static output buffer, which the next
        chunk's replay overwrites while the consumer still holds the previous chunk."""
        s = self.settings
        with torch.inference_mode():
            state = self.initial_state(text)
            for stage in self.stages[:2]:
                stage.fn(state)
            mel, hop = state["mel"], self.hop_length
            total = mel.shape[-1]
            for start in range(0, total, s.stream_chunk_frames):
                stop = min(start + s.stream_chunk_frames, total)
                left = max(start - s.stream_context_frames, 0)
                right = min(stop + s.stream_context_frames, total)
                wave = self.components["vocoder"](mel[..., left:right]).float().reshape(-1)
                yield wave[(start - left) * hop: (stop - left) * hop].clone()


def _has_pretrained_vocoder(s: TTSSettings) -> bool:
    """HiFi-GAN V1 at 80 mels has public weights (the universal generator); V2/V3 do not."""
    return s.vocoder == "v1" and s.n_mels == hifigan_pretrained.N_MELS


def _build_modules(s: TTSSettings, n_symbols: int, seed: int) -> dict[str, nn.Module]:
    """Seeded, architecture-faithful initialisation: same seed, same weights."""
    builders: dict[str, Callable[[], nn.Module]] = {
        "text_encoder": lambda: TextEncoder(n_symbols, s.hidden, s.encoder_layers, s.heads,
                                            s.filter_channels, s.kernel_size, s.max_tokens),
        "duration_predictor": lambda: DurationPredictor(s.hidden),
        "decoder": lambda: MelDecoder(s.hidden, s.n_mels, s.decoder_layers, s.heads,
                                      s.filter_channels, s.kernel_size, s.max_frames),
        "vocoder": lambda: HiFiGANGenerator(hifigan_config(s.vocoder), n_mels=s.n_mels),
    }
    modules = {}
    for index, (name, build) in enumerate(builders.items()):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed * 1000 + 100 + index)
            modules[name] = build()
    return modules


def _example_inputs(name: str, s: TTSSettings, device: torch.device, dtype: torch.dtype,
                    n_symbols: int) -> Callable[[int], tuple[torch.Tensor, ...]]:
    """Inputs for ``frames`` time steps (phonemes for the encoder, mel frames after)."""

    def make(frames: int) -> tuple[torch.Tensor, ...]:
        if name == "text_encoder":
            return (torch.randint(1, n_symbols, (1, min(frames, s.max_tokens)), device=device),)
        channels = s.n_mels if name == "vocoder" else s.hidden
        return (torch.randn(1, channels, frames, device=device, dtype=dtype),)

    return make
