"""Checkpoint round trips (including weight-norm keys) and every CheckpointError case."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from avbench.models import (
    CheckpointError,
    ContentEncoder,
    HiFiGANGenerator,
    ResidualCouplingFlow,
    hifigan_config,
    load_checkpoint,
    save_checkpoint,
)


def _components(seed: int) -> dict[str, nn.Module]:
    torch.manual_seed(seed)
    return {
        "content_encoder": ContentEncoder(n_mels=16, hidden=24, n_layers=2),
        "flow_decoder": ResidualCouplingFlow(
            channels=8, hidden=16, n_layers=2, n_flows=2, gin_channels=12
        ),
        "vocoder": HiFiGANGenerator(hifigan_config("v3"), n_mels=16),
    }


def _assert_same_state(a: nn.Module, b: nn.Module) -> None:
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key


def test_round_trip_restores_weight_normed_models(tmp_path: Path) -> None:
    path = tmp_path / "svc.pt"
    saved = _components(seed=0)
    save_checkpoint(path, saved)
    fresh = _components(seed=1)
    assert not torch.equal(
        fresh["vocoder"].conv_pre.parametrizations.weight.original1,
        saved["vocoder"].conv_pre.parametrizations.weight.original1,
    )

    assert load_checkpoint(path, fresh) == ["content_encoder", "flow_decoder", "vocoder"]
    for name in saved:
        _assert_same_state(saved[name], fresh[name])
    mel = torch.randn(1, 16, 4)
    with torch.inference_mode():
        torch.testing.assert_close(fresh["vocoder"](mel), saved["vocoder"](mel), atol=0, rtol=0)


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "svc.pt"
    save_checkpoint(path, {"content_encoder": _components(0)["content_encoder"]})
    save_checkpoint(path, _components(1))  # overwrite in place
    assert sorted(p.name for p in path.parent.iterdir()) == ["svc.pt"]
    assert len(load_checkpoint(path, _components(2))) == 3


def test_failed_save_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "svc.pt"
    save_checkpoint(path, _components(0))
    before = path.read_bytes()

    def broken_save(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _components(1))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["svc.pt"]


def test_components_absent_from_checkpoint_keep_their_weights(tmp_path: Path) -> None:
    path = tmp_path / "flow_only.pt"
    saved = _components(0)
    save_checkpoint(path, {"flow_decoder": saved["flow_decoder"]})
    fresh = _components(1)
    untouched = {k: v.clone() for k, v in fresh["vocoder"].state_dict().items()}

    assert load_checkpoint(path, fresh) == ["flow_decoder"]
    _assert_same_state(saved["flow_decoder"], fresh["flow_decoder"])
    for key, value in fresh["vocoder"].state_dict().items():
        assert torch.equal(value, untouched[key])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found") as info:
        load_checkpoint(tmp_path / "absent.pt", _components(0))
    assert "absent.pt" in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"this is not a torch checkpoint\n" * 10)
    with pytest.raises(CheckpointError, match="cannot read") as info:
        load_checkpoint(path, _components(0))
    assert "\n" not in str(info.value)


class _Payload:
    """An arbitrary object: weights_only loading must refuse to unpickle it."""


def test_refuses_arbitrary_pickles(tmp_path: Path) -> None:
    path = tmp_path / "pickle.pt"
    torch.save({"vocoder": {"weight": _Payload()}}, path)
    with pytest.raises(CheckpointError, match="cannot read .*: not a weights-only checkpoint"):
        load_checkpoint(path, _components(0))


def test_wrong_layout(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(3)], path)
    with pytest.raises(CheckpointError, match="component: state_dict"):
        load_checkpoint(path, _components(0))


def test_shape_mismatch_names_component_and_key_and_loads_nothing(tmp_path: Path) -> None:
    path = tmp_path / "svc.pt"
    saved = _components(0)
    torch.manual_seed(0)
    saved["content_encoder"] = ContentEncoder(n_mels=16, hidden=32, n_layers=2)
    save_checkpoint(path, saved)
    fresh = _components(1)
    flow_before = {k: v.clone() for k, v in fresh["flow_decoder"].state_dict().items()}

    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, fresh)
    message = str(info.value)
    assert "'content_encoder'" in message and "'pre.weight'" in message
    assert "(32, 16, 5)" in message and "(24, 16, 5)" in message
    # flow_decoder matched, but nothing is loaded when any component fails.
    for key, value in fresh["flow_decoder"].state_dict().items():
        assert torch.equal(value, flow_before[key])


def test_unexpected_key(tmp_path: Path) -> None:
    path = tmp_path / "deep.pt"
    torch.manual_seed(0)
    save_checkpoint(path, {"content_encoder": ContentEncoder(n_mels=16, hidden=24, n_layers=3)})
    with pytest.raises(CheckpointError, match="unexpected key 'blocks.2.conv.weight'"):
        load_checkpoint(path, _components(0))


def test_weight_norm_removed_before_save_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "folded.pt"
    vocoder = _components(0)["vocoder"]
    vocoder.remove_weight_norm()
    save_checkpoint(path, {"vocoder": vocoder})
    with pytest.raises(CheckpointError, match=r"'vocoder'.*remove_weight_norm"):
        load_checkpoint(path, _components(1))


def test_error_is_a_value_error() -> None:
    assert issubclass(CheckpointError, ValueError)


def _official_layout(generator: HiFiGANGenerator) -> dict:
    """Our generator's state in the published HiFi-GAN layout (hook-based weight norm)."""
    state = {key.replace(".parametrizations.weight.original0", ".weight_g")
             .replace(".parametrizations.weight.original1", ".weight_v"): value
             for key, value in generator.state_dict().items()}
    return {"generator": state}


def test_official_hifigan_layout_is_converted_on_load(tmp_path: Path) -> None:
    torch.manual_seed(3)
    published = HiFiGANGenerator(hifigan_config("v3"), n_mels=16)
    torch.save(_official_layout(published), tmp_path / "generator_v3.pth.tar")
    target = _components(seed=9)
    assert load_checkpoint(tmp_path / "generator_v3.pth.tar", target) == ["vocoder"]
    _assert_same_state(target["vocoder"], published)


def test_official_layout_that_does_not_fit_names_the_keys(tmp_path: Path) -> None:
    torch.save(_official_layout(HiFiGANGenerator(hifigan_config("v1"), n_mels=16)),
               tmp_path / "generator_v1.pth.tar")
    with pytest.raises(CheckpointError, match=r"component 'vocoder': key 'conv_pre.*shape"):
        load_checkpoint(tmp_path / "generator_v1.pth.tar", _components(seed=0))
