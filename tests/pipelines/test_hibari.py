"""pipeline=hibari: the real pretrained hibari-tts model through the pipeline contract."""

import numpy as np
import pytest
import torch

from avbench.audio.texts import encode_text

hibari = pytest.importorskip("hibari", reason="pip install --no-deps hibari-tts==0.2.1")


@pytest.fixture(scope="module")
def pipe():  # noqa: ANN201
    from avbench.pipelines.hibari import HibariPipeline

    return HibariPipeline(seed=0)


def test_synthesises_24khz_speech_deterministically(pipe) -> None:  # noqa: ANN001
    text = encode_text("The birch canoe slid on the smooth planks. Glue the sheet.")
    out = pipe.run(text)
    audio = out.audio.numpy()
    assert out.sample_rate == 24000 and len(out.state["ids"]) == 2  # two sentences
    assert 1.5 < audio.size / 24000 < 10 and np.isfinite(audio).all()
    assert np.sqrt(np.mean(audio**2)) > 0.01  # speech, not silence
    assert torch.equal(pipe.run(text).audio, out.audio)
    assert torch.equal(torch.cat(list(pipe.stream(text))), out.audio)


def test_tagged_as_pretrained(pipe) -> None:  # noqa: ANN001
    assert pipe.weight_sources["hibari"].startswith("pretrained:hibari-tts 0.2.1")
    assert pipe.stage_names == ["text_frontend", "acoustic", "vocoder"]


def test_other_voices_are_refused_not_downloaded() -> None:
    from avbench.pipelines.hibari import HibariPipeline
    from avbench.runtime import ConfigError

    with pytest.raises(ConfigError, match="only 'heart' ships"):
        HibariPipeline(voice="emma")
