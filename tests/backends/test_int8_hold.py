"""int8 held to the gate's own measure: NNCF's accuracy control returns layers to float32
until the log-mel distance from the float model is within the hold; which components are
held, and which are kept in float32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from avbench.backends.openvino import openvino_version
from avbench.backends.quantize import F32, Hold, int8_fields, quantise, validation_calls
from avbench.metrics.fidelity import log_mel_distance_db
from avbench.models.vocoder import HiFiGANConfig, HiFiGANGenerator
from avbench.openvino_core import openvino_core
from avbench.phases.prepare import holds
from tests.test_config import compose_avbench

pytestmark = pytest.mark.skipif(openvino_version() is None,
                                reason="OpenVINO is not installed: pip install -e '.[cpu]'")
RATE = 16000
TINY = HiFiGANConfig(resblock="2", upsample_rates=(4, 4), upsample_kernel_sizes=(8, 8),
                     upsample_initial_channel=32, resblock_kernel_sizes=(3,),
                     resblock_dilation_sizes=((1, 2),))  # hop 16


def distance(model, calls: list[list[np.ndarray]]) -> float:
    """Mean log-mel distance of ``model``'s outputs from the float generator's."""
    core = openvino_core()
    compiled = core.compile_model(model, "CPU", F32)
    return float(np.mean([log_mel_distance_db(torch.from_numpy(compiled(call)[0]),
                                              torch.from_numpy(FLOAT(call)[0]), RATE)
                          for call in calls]))


@pytest.fixture(scope="module")
def generator_ir():
    import openvino

    global FLOAT
    torch.manual_seed(0)
    generator = HiFiGANGenerator(TINY, n_mels=8).eval()
    generator.remove_weight_norm()
    calls = [(torch.randn(1, 8, 120, generator=torch.Generator().manual_seed(s)),)
             for s in range(6)]
    model = openvino.convert_model(generator, example_input=calls[0][0])
    FLOAT = openvino_core().compile_model(model, "CPU", F32)
    return model, calls


def test_a_held_component_is_within_its_hold_where_plain_int8_is_not(generator_ir,
                                                                       tmp_path: Path) -> None:
    model, calls = generator_ir
    core = openvino_core()
    validation = validation_calls([[x.numpy() for x in call] for call in calls], 80)
    assert len(validation) == 3 and all(v[0].shape[-1] == 80 for v in validation)
    quantise(model, calls, tmp_path / "plain.xml")
    plain = distance(core.read_model(tmp_path / "plain.xml"), validation)
    assert plain > 0.05  # int8 moved the output: there is something to hold
    hold = Hold("vocoder", RATE, max_drop_db=plain / 2, frames=80)
    quantise(model, calls, tmp_path / "held.xml", hold)
    held_model = core.read_model(tmp_path / "held.xml")
    assert distance(held_model, validation) <= hold.max_drop_db
    fake_quantised = [op for op in held_model.get_ordered_ops()
                      if op.get_type_name() == "FakeQuantize"]
    assert fake_quantised  # still an int8 model, not the float one returned


def test_the_hold_keys_the_cache(generator_ir, tmp_path: Path) -> None:
    import openvino

    path = tmp_path / "float.xml"
    openvino.save_model(generator_ir[0], path)
    hold = Hold("vocoder", RATE, 0.7, 80)
    plain, held = int8_fields(str(path), "vocoder", "abc"), int8_fields(str(path), "vocoder",
                                                                        "abc", hold)
    assert plain["hold"] is None and held["hold"]["max_drop_db"] == 0.7
    assert plain != held


def test_the_svc_vocoder_is_held_and_separation_kept_float(asset_cache: Path) -> None:
    from avbench.audio.synth import write_voice_profiles
    from avbench.pipelines.settings import SVCSettings
    from avbench.pipelines.svc import SVCPipeline

    cfg = compose_avbench("precision=int8", "preset=fast")
    pipe = SVCPipeline(SVCSettings(**cfg.preset.svc),
                       voice_profile=write_voice_profiles(asset_cache / "profiles")[1])
    assert holds(cfg, pipe) == {"vocoder": Hold("vocoder", 22050, 0.7, 87)}
    assert list(cfg.precision.keep_float) == ["separation"]
    for unheld in ("precision.quality.max_log_mel_db=null", "precision.hold_margin=null"):
        assert holds(compose_avbench("precision=int8", unheld), pipe) == {}
    assert holds(compose_avbench("precision=fp16"), pipe) == {}
