"""Phase 1, input: the waveform to run and what it is judged against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from avbench import console
from avbench.audio.io import load_audio
from avbench.audio.synth import TestSong, load_or_generate
from avbench.audio.texts import encode_text, load_texts
from avbench.pipelines.modules import describe_example
from avbench.run_types import RunContext, RunInput
from avbench.runtime import resolve_cache_dir


def audio_label(cfg: DictConfig) -> str:
    """The file's stem, or the synthetic song's real duration (``audio=1s
    audio.duration_s=4`` is ``4s``), never the name of the audio option."""
    return Path(cfg.audio.path).stem if cfg.audio.path else f"{float(cfg.audio.duration_s):g}s"


def input_label(cfg: DictConfig) -> str:
    """The text corpus (or file stem) of a TTS run, else ``audio_label``."""
    if cfg.pipeline.input == "text":
        return Path(cfg.text.path).stem if cfg.text.path else cfg.text.name
    return audio_label(cfg)


def load_input(ctx: RunContext) -> RunInput:
    cfg = ctx.cfg
    if cfg.pipeline.input == "text":
        return load_texts_input(ctx)
    if cfg.pipeline.input == "example":
        return example_input(ctx)
    console.phase(1, "input", cfg.audio.path or f"synthetic song, {cfg.audio.duration_s:g} s")
    sample_rate = int(cfg.pipeline.sample_rate)
    audio_np, song = _waveform(ctx, sample_rate)
    return RunInput(torch.from_numpy(audio_np).to(ctx.device),
                    audio_np.shape[-1] / sample_rate, song)


def _waveform(ctx: RunContext, sample_rate: int) -> tuple[np.ndarray, TestSong | None]:
    """The input waveform and, for a synthetic song, the song with its F0 labels."""
    cfg = ctx.cfg
    if cfg.audio.path:
        return load_audio(cfg.audio.path, sample_rate), None
    song = load_or_generate(resolve_cache_dir(cfg.audio.cache_dir, str(ctx.cache_dir / "songs")),
                            cfg.audio.duration_s, sample_rate, seed=cfg.audio.seed,
                            hop_length=cfg.preset.svc.hop_length)
    return song.mix, song


def example_input(ctx: RunContext) -> RunInput:
    """A module run (``avbench.benchmark``): the pipeline runs its own example inputs, and
    ``audio.duration_s`` is only what one call stands for (the RTF's denominator), so no
    song is made: the input is silence of that length."""
    cfg = ctx.cfg
    duration_s = float(cfg.audio.duration_s)
    console.phase(1, "input", f"the example inputs, {describe_example(cfg.pipeline.model)}; "
                              f"one call stands for {duration_s:g} s of audio")
    samples = max(1, round(duration_s * int(cfg.pipeline.sample_rate)))
    return RunInput(torch.zeros(samples, device=ctx.device), duration_s, None)


def load_texts_input(ctx: RunContext) -> RunInput:
    """A text pipeline's utterances, checked against ``pipeline.max_chars``."""
    text = ctx.cfg.text
    console.phase(1, "input", text.path or f"text corpus {text.corpus}")
    texts = load_texts(text.corpus, text.path, int(ctx.cfg.pipeline.max_chars))
    return RunInput(encode_text(texts[0]).to(ctx.device), 0.0, texts=texts)
