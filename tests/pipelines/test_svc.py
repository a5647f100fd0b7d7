"""The SVC pipeline end to end on 1 s of audio, at every precision and preset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from avbench.audio.synth import load_or_generate, write_voice_profiles
from avbench.models import save_checkpoint
from avbench.models.checkpoint import CheckpointError
from avbench.pipelines.settings import SVCSettings
from avbench.pipelines.svc import SVCPipeline
from avbench.pipelines.svc_modules import seeded_modules
from tests.test_config import compose_avbench

STAGES = ["separation", "f0_extraction", "conversion", "vocoder", "mixing"]


@pytest.fixture(scope="module")
def song(asset_cache: Path):
    return load_or_generate(asset_cache / "songs", 1.0, 22050)


@pytest.fixture(scope="module")
def profile(asset_cache: Path) -> Path:
    return write_voice_profiles(asset_cache / "profiles")[1]


def settings(preset: str) -> SVCSettings:
    return SVCSettings(**compose_avbench(f"preset={preset}").preset.svc)


def build(profile: Path, preset: str = "fast", dtype: torch.dtype = torch.float32,
          **kwargs) -> SVCPipeline:
    return SVCPipeline(settings(preset), voice_profile=profile, dtype=dtype, **kwargs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_runs_end_to_end_and_reports_every_stage(song, profile: Path, dtype) -> None:
    pipe = build(profile, dtype=dtype)
    calls: list[str] = []
    out = pipe.run(torch.from_numpy(song.mix), profiling_callback=lambda s, _: calls.append(s))
    assert calls == [*STAGES, "total"]
    audio = out.audio
    assert audio.dtype == torch.float32 and audio.shape == (len(song.mix),)
    assert torch.isfinite(audio).all() and audio.abs().max() <= 10 ** (-1 / 20) + 1e-6
    assert audio.abs().max() > 0.01
    assert out.state["converted_mel"].dtype == dtype
    assert out.state["f0_hz"].shape == out.state["voiced"].shape == (1 + len(song.mix) // 256,)


def test_same_seed_same_output_other_seed_differs(song, profile: Path) -> None:
    audio = torch.from_numpy(song.mix)
    first = build(profile, seed=0).run(audio).audio
    again = build(profile, seed=0).run(audio).audio
    other = build(profile, seed=1).run(audio).audio
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


def test_checkpoint_is_loaded(song, profile: Path, tmp_path: Path) -> None:
    source = build(profile, seed=7)
    # The pipeline folds weight norm at build, so save from freshly built (unfolded) modules.
    modules = seeded_modules(settings("fast"), seed=7)
    save_checkpoint(tmp_path / "ckpt.pt", modules)
    loaded = build(profile, seed=0, checkpoint=tmp_path / "ckpt.pt")
    assert loaded.loaded_components == list(modules)  # every component but f0 (yin: none)
    audio = torch.from_numpy(song.mix)
    assert torch.allclose(loaded.run(audio).audio, source.run(audio).audio, atol=1e-5)


def test_missing_checkpoint_is_a_clear_error(profile: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        build(profile, checkpoint=tmp_path / "nope.pt")


def test_presets_order_compute(song, profile: Path) -> None:
    """fast < balanced < quality in FLOPs of one run on the same input."""
    audio = torch.from_numpy(song.mix[:5512])
    flops = {}
    for preset in ("fast", "balanced", "quality"):
        pipe = build(profile, preset=preset)
        with FlopCounterMode(display=False) as counter:
            pipe.run(audio)
        flops[preset] = counter.get_total_flops()
    assert flops["fast"] < flops["balanced"] < flops["quality"], flops


def test_mixing_matches_loudness_and_limits_peaks(song, profile: Path) -> None:
    out = build(profile).run(torch.from_numpy(song.mix))
    state = out.state
    vocals_rms = state["vocals"].square().mean().sqrt()
    mixed_voice = out.audio - state["accompaniment"]
    peak = out.audio.abs().max()
    if peak < 10 ** (-1 / 20) - 1e-4:  # not limited: the voice was gain-matched exactly
        assert mixed_voice.square().mean().sqrt() == pytest.approx(vocals_rms.item(), rel=1e-3)
    else:
        assert peak == pytest.approx(10 ** (-1 / 20), rel=1e-4)
    assert np.isfinite(out.audio.numpy()).all()


def test_long_inputs_run_in_pieces(song, profile: Path) -> None:
    """The preset's piece sizes reach the stages: the vocoder in overlapped chunks equals its
    whole call; separation segments are Spleeter's independent segments, so only they move
    the voice (a little)."""
    audio = torch.from_numpy(song.mix)  # 1 s: 87 frames
    pipe = build(profile)
    pipe.settings.separation_segment_frames = pipe.settings.vocoder_chunk_frames = 0
    whole = pipe.run(audio).state
    pipe.settings.vocoder_chunk_frames = 30
    chunked = pipe.run(audio).state
    torch.testing.assert_close(chunked["converted"], whole["converted"], rtol=0, atol=1e-5)
    pipe.settings.separation_segment_frames = 64  # of the fast preset's 87 frames
    segmented = pipe.run(audio).state
    assert not torch.equal(segmented["vocals"], whole["vocals"])
    error = (segmented["vocals"] - whole["vocals"]).square().sum()
    assert 10 * torch.log10(whole["vocals"].square().sum() / error) > 10  # dB


def test_segment_length_must_fit_the_u_nets(profile: Path) -> None:
    s = settings("fast")
    s.separation_segment_frames = 100
    with pytest.raises(ValueError, match="separation_segment_frames=100 is not a multiple of 64"):
        SVCPipeline(s, voice_profile=profile)
