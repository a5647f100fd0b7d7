"""A real pretrained TTS: hibari-tts 0.2.1 (Apache-2.0), a 24 kHz ONNX model distilled
from one Kokoro-82M voice (``heart``, in the wheel), with its own G2P and a numpy
harmonic-plus-noise synthesiser.

Stages: text_frontend (hibari's normalisation + G2P -> phoneme ids per sentence),
acoustic (its ONNX model on ONNX Runtime's CPU provider -> per-frame synthesis
parameters), vocoder (its DSP synthesis -> waveform). The model runs in hibari's own
ONNX Runtime session, so ``backend=`` and ``precision=`` do not apply to it (it has no
torch components); the run is tagged with what it is.

Install without its dependencies: hibari-tts requires the plain ``onnxruntime``, which
would install a second copy of the module over onnxruntime-openvino:
``pip install --no-deps hibari-tts==0.2.1``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from avbench.audio.texts import TextInputError, decode_text
from avbench.pipelines.base import Pipeline, Stage, State
from avbench.runtime import ConfigError

VERSION = "0.2.1"
INSTALL = f"pip install --no-deps hibari-tts=={VERSION}"


def _hibari() -> Any:
    try:
        import hibari
        from hibari import dsp
    except ImportError:
        raise ConfigError(f"pipeline=hibari needs the hibari-tts package: make setup, or "
                          f"{INSTALL} (--no-deps: it would install a second onnxruntime)"
                          ) from None
    return hibari, dsp


class HibariPipeline(Pipeline):
    name = "hibari"
    audio_keys = frozenset({"output"})

    def __init__(self, voice: str = "heart", sample_rate: int = 24000, seed: int = 0,
                 threads: int = 1, device: str | torch.device = "cpu",
                 name: str = "hibari") -> None:
        hibari, self._dsp = _hibari()
        if voice != "heart":
            raise ConfigError(f"pipeline.voice={voice}: only 'heart' ships in the hibari wheel "
                              "(the others download at run time, which avbench does not do)")
        if sample_rate != hibari.tts.SAMPLE_RATE:
            raise ConfigError(f"hibari makes {hibari.tts.SAMPLE_RATE} Hz audio; set "
                              f"pipeline.sample_rate={hibari.tts.SAMPLE_RATE}")
        super().__init__(torch.device("cpu"), sample_rate)
        self.name, self.seed, self.voice = name, seed, voice
        self.voices = (voice,)
        self.tts = hibari.Hibari(voice=voice, threads=threads)
        _ = self.tts.g2p  # load the lexicons and tagger now, not in the first timed call
        self.version = getattr(hibari, "__version__", VERSION)
        self.weight_sources = {"hibari": f"pretrained:hibari-tts {self.version} voice {voice} "
                                         "(distilled from Kokoro-82M)"}
        self.stages = [Stage("text_frontend", self._text_frontend),
                       Stage("acoustic", self._acoustic),
                       Stage("vocoder", self._vocoder, (), ("output",))]

    def describe(self) -> dict[str, Any]:
        return {"model": f"hibari-tts {self.version}", "voice": self.voice,
                "runtime": "onnxruntime CPUExecutionProvider (hibari's own session)",
                "sample_rate": self.sample_rate}

    def _text_frontend(self, state: State) -> None:
        text = decode_text(state["input"])
        state["ids"] = [self.tts.ids(p) for p in self.tts.phonemize(text)]
        if not state["ids"]:
            raise TextInputError(f"no speakable text in {text[:40]!r}")

    def _acoustic(self, state: State) -> None:
        state["frames"] = [self._model(ids) for ids in state["ids"]]

    def _model(self, ids: list[int]) -> list[np.ndarray]:
        inputs = {"ids": np.asarray([ids], np.int64), "speed": np.asarray([1.0], np.float32)}
        return [out[0] for out in self.tts.sess.run(None, inputs)]

    def _vocoder(self, state: State) -> None:
        rng = np.random.default_rng(self.seed)
        audio = np.concatenate([self._dsp.synth(*frames, rng) for frames in state["frames"]])
        state["output"] = torch.from_numpy(audio.astype(np.float32))

    def stream(self, text: torch.Tensor) -> Iterator[torch.Tensor]:
        """One chunk per sentence (hibari's own streaming unit), each as soon as it is made."""
        rng = np.random.default_rng(self.seed)
        for phonemes in self.tts.phonemize(decode_text(text)):
            audio = self._dsp.synth(*self._model(self.tts.ids(phonemes)), rng)
            yield torch.from_numpy(audio.astype(np.float32))
