"""The TTS pipeline end to end on short texts, its frontend, and its text inputs."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from avbench.audio.frontend import G2P, normalize, number_words
from avbench.audio.texts import TextInputError, corpus, decode_text, encode_text, load_texts
from avbench.pipelines.tts import TTSPipeline

TINY = {"hidden": 64, "encoder_layers": 1, "decoder_layers": 1, "filter_channels": 128}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: on a shared 2-core machine two threads wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_tts() -> TTSPipeline:
    return TTSPipeline(TINY, seed=0)


def test_normalisation_spells_numbers_and_abbreviations() -> None:
    assert number_words(1250) == "one thousand two hundred fifty"
    assert normalize("Dr. Who paid 3,001 Euros — naïve!") == \
        "doctor who paid three thousand one euros naive!"


def test_g2p_uses_the_lexicon_and_spells_unknown_words() -> None:
    g2p = G2P()
    assert g2p.phonemes("hello world").symbols == ["HH", "AH0", "L", "OW1", " ", "W", "ER1",
                                                   "L", "D"]
    unknown = g2p.phonemes("zxqv")
    assert unknown.oov_words == 1 and unknown.symbols == ["Z", "K", "K", "V"]
    assert all(0 < i < len(g2p.vocabulary) for i in g2p.ids("Rice is served, often!"))


def test_text_travels_as_utf8_bytes() -> None:
    assert decode_text(encode_text("Grüße, 42")) == "Grüße, 42"


@pytest.mark.parametrize("text", corpus("short"))
def test_synthesises_each_short_text(tiny_tts: TTSPipeline, text: str) -> None:
    out = tiny_tts.run(encode_text(text))
    durations = out.state["durations"]
    assert out.sample_rate == 22050
    assert out.audio.shape == (int(durations.sum()) * tiny_tts.hop_length,)
    assert len(durations) == out.state["tokens"].shape[-1]
    assert torch.isfinite(out.audio).all() and out.audio.abs().max() <= 1.0
    assert out.audio.abs().max() > 0


def test_same_seed_same_audio_other_seed_other_audio(tiny_tts: TTSPipeline) -> None:
    text = encode_text("Glue the sheet.")
    again = TTSPipeline(TINY, seed=0).run(text).audio
    assert torch.equal(tiny_tts.run(text).audio, again)
    other = TTSPipeline(TINY, seed=1).run(text).audio
    assert other.shape != again.shape or not torch.equal(other, again)


def test_streamed_chunks_join_into_the_whole_utterance(tiny_tts: TTSPipeline) -> None:
    text = encode_text(corpus("harvard")[1])
    whole = tiny_tts.run(text).audio
    chunks = list(tiny_tts.stream(text))
    chunk_samples = tiny_tts.settings.stream_chunk_frames * tiny_tts.hop_length
    assert len(chunks) > 2 and all(c.shape[-1] == chunk_samples for c in chunks[:-1])
    joined = torch.cat(chunks)
    assert joined.shape == whole.shape
    assert float((joined - whole).norm() / whole.norm()) < 1e-4


def test_stages_components_and_seeded_tags(tiny_tts: TTSPipeline) -> None:
    assert tiny_tts.stage_names == ["text_frontend", "acoustic", "vocoder"]
    assert set(tiny_tts.components) == {"text_encoder", "duration_predictor", "decoder",
                                        "vocoder"}
    assert set(tiny_tts.weight_sources.values()) == {"seeded"}
    for name, component in tiny_tts.components.items():
        (first, *_), (second, *_) = component.example_inputs(20), component.example_inputs(30)
        assert first.shape[-1] == 20 and second.shape[-1] == 30, name


def test_harvard_corpus_varies_in_length() -> None:
    lengths = [len(t) for t in corpus("harvard")]
    assert len(lengths) == 10 and max(lengths) > 4 * min(lengths)


def test_text_file_errors_are_one_clear_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\x00\x01\x02 abc")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    long = tmp_path / "long.txt"
    long.write_text("short line\n" + "word " * 50 + "\n")
    with pytest.raises(TextInputError, match="has no text"):
        load_texts("harvard", str(empty), 600)
    with pytest.raises(TextInputError, match="binary file"):
        load_texts("harvard", str(binary), 600)
    with pytest.raises(TextInputError, match="not UTF-8"):
        load_texts("harvard", str(latin), 600)
    with pytest.raises(TextInputError, match="line 2 .* over the model's limit of 100"):
        load_texts("harvard", str(long), 100)
    with pytest.raises(TextInputError, match="no such file"):
        load_texts("harvard", str(tmp_path / "missing.txt"), 600)
    assert load_texts("harvard", str(long), 600)[0] == "short line"


def test_engine_profiles_span_phonemes_and_mel_frames_not_text_bytes(
        tiny_tts: TTSPipeline) -> None:
    from avbench.backends.export import profile_shapes
    from avbench.phases.prepare import frame_range
    from avbench.run_types import RunInput

    text = "The birch canoe slid on the smooth planks."
    phonemes = tiny_tts.tokens(text).shape[-1]
    s = tiny_tts.settings
    frames = frame_range(None, tiny_tts, RunInput(encode_text(text), 0.0, texts=[text]))
    assert (frames.min, frames.max) == (1, s.max_frames)
    assert frames.opt == phonemes * 8  # not the 43 bytes of UTF-8 divided by a hop
    shapes = profile_shapes(tiny_tts.components["vocoder"], frames)
    assert shapes["mel"] == ((1, s.n_mels, 1), (1, s.n_mels, phonemes * 8),
                             (1, s.n_mels, s.max_frames))
    encoder = profile_shapes(tiny_tts.components["text_encoder"], frames)["tokens"]
    assert encoder[2] == (1, min(s.max_frames, s.max_tokens))


class StaticOutputVocoder:
    """What a vocoder captured as a CUDA graph returns: one output buffer, overwritten in
    place by every call (a replay), here on the CPU."""

    def __init__(self, vocoder: torch.nn.Module) -> None:
        self.vocoder, self.buffer = vocoder, None

    def __call__(self, mel: torch.Tensor) -> torch.Tensor:
        out = self.vocoder(mel)
        if self.buffer is None or self.buffer.shape != out.shape:
            self.buffer = torch.empty_like(out)
        return self.buffer.copy_(out)


def test_streamed_chunks_survive_a_vocoder_that_reuses_its_output_buffer(
        tiny_tts: TTSPipeline) -> None:
    text = encode_text(corpus("harvard")[1])
    expected = list(tiny_tts.stream(text))
    vocoder = tiny_tts.components["vocoder"]
    vocoder.run = StaticOutputVocoder(vocoder.module)
    try:
        chunks = list(tiny_tts.stream(text))  # all held at once, as a client may
    finally:
        vocoder.run = None
    assert len(chunks) == len(expected) > 2
    assert all(torch.equal(got, want) for got, want in zip(chunks, expected, strict=True))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")
def test_streaming_a_cuda_graph_vocoder_keeps_every_chunk() -> None:
    pipe = TTSPipeline(TINY, device="cuda", seed=0)
    text = encode_text(corpus("harvard")[1])
    expected = list(pipe.stream(text))
    vocoder = pipe.components["vocoder"]
    vocoder.run = torch.compile(vocoder.module, mode="reduce-overhead")
    for _ in range(3):  # warm up: cudagraph trees record on a later call
        chunks = list(pipe.stream(text))
    assert len(chunks) == len(expected)
    for got, want in zip(chunks, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-4)
