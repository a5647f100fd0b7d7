"""Every option of every config group composes; the pipeline groups instantiate."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from avbench.config import register_configs
from avbench.runtime import ConfigError, resolve_device, resolve_dtype

CONF = Path(__file__).resolve().parents[1] / "conf"
GROUPS = ["task", "pipeline", "preset", "precision", "backend", "kernel", "gpu", "audio",
          "tracking", "bench", "debug", "experiment", "loader", "text", "scenario"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_avbench(*overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=["paths.output_dir=/tmp/unused", *overrides])


@pytest.mark.parametrize(("group", "option"),
                         [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes(group: str, option: str) -> None:
    cfg = compose_avbench(f"{group}={option}")
    OmegaConf.resolve(cfg)
    if group in {"task", "pipeline", "preset", "precision", "backend", "kernel", "gpu",
                 "audio", "tracking", "loader", "text", "scenario"}:
        assert cfg[group].name == option


def test_group_options_are_the_documented_ones() -> None:
    assert options("preset") == ["balanced", "fast", "quality"]
    assert options("precision") == ["bf16", "fp16", "fp32", "int8"]
    assert options("audio") == ["10s", "1s", "30s", "5s", "60s"]
    assert set(options("gpu")) == {"auto", "cpu", "a100", "h100", "h200", "l4", "t4",
                                   "rtx3090", "rtx4090"}


def test_defaults_are_the_embedded_ones() -> None:
    cfg = compose_avbench()
    chosen = {g: cfg[g].name for g in ("task", "pipeline", "preset", "precision", "backend",
                                       "kernel", "gpu", "audio", "tracking")}
    assert chosen == {"task": "pipeline", "pipeline": "svc", "preset": "balanced",
                      "precision": "fp32", "backend": "pytorch", "kernel": "auto",
                      "gpu": "auto", "audio": "10s", "tracking": "mlflow"}
    assert cfg.audio.duration_s == 10.0
    assert cfg.tracking.uri == "sqlite:///mlflow.db"


def test_presets_order_compute() -> None:
    sizes = {}
    for preset in ("fast", "balanced", "quality"):
        svc = compose_avbench(f"preset={preset}").preset.svc
        sizes[preset] = (svc.hidden, svc.content_layers, svc.separation_channels)
    assert sizes["fast"] < sizes["balanced"] < sizes["quality"]


@pytest.mark.parametrize("override", ["bench.min_repeats=many", "audio.duration_s=long",
                                      "tracking.enabled=maybe"])
def test_wrong_type_fails_at_compose(override: str) -> None:
    with pytest.raises(ConfigCompositionException):
        compose_avbench(override)


@pytest.mark.parametrize("override", ["preset=turbo", "bench.repeats=3", "preset.svc.bogus=1"])
def test_unknown_option_or_key_fails_at_compose(override: str) -> None:
    with pytest.raises(ConfigCompositionException):
        compose_avbench(override)


@pytest.mark.parametrize("gpu", ["a100", "h100", "h200", "l4", "t4", "rtx3090", "rtx4090"])
def test_gpu_profiles_are_complete(gpu: str) -> None:
    profile = compose_avbench(f"gpu={gpu}").gpu
    assert profile.device == "cuda"
    assert profile.name_pattern and profile.memory_gb > 0 and profile.memory_bandwidth_gbs > 0
    assert profile.peak_tflops["fp16"] > profile.peak_tflops["fp32"] > 0
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="needs a CUDA GPU"):
            resolve_device(profile)


def test_cpu_and_auto_devices() -> None:
    assert resolve_device(compose_avbench("gpu=cpu").gpu).type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(compose_avbench("gpu=auto").gpu).type == expected


@pytest.mark.parametrize(("precision", "dtype"), [("fp32", torch.float32),
                                                  ("fp16", torch.float16),
                                                  ("bf16", torch.bfloat16)])
def test_precision_dtypes(precision: str, dtype: torch.dtype) -> None:
    assert resolve_dtype(compose_avbench(f"precision={precision}").precision) is dtype


@pytest.mark.parametrize("preset", options("preset"))
@pytest.mark.parametrize("precision", options("precision"))
def test_pipeline_instantiates_from_config(preset: str, precision: str,
                                           asset_cache: Path) -> None:
    """The pipeline node instantiates exactly as the task does it."""
    from avbench.phases.build import build_pipeline

    cfg = compose_avbench(f"preset={preset}", f"precision={precision}")
    pipe = build_pipeline(cfg, torch.device("cpu"), resolve_dtype(cfg.precision), "torch",
                          asset_cache)
    assert pipe.stage_names == ["separation", "f0_extraction", "conversion", "vocoder", "mixing"]
    assert pipe.settings.hidden == cfg.preset.svc.hidden
    assert all(p.dtype == resolve_dtype(cfg.precision)
               for c in pipe.components.values() for p in c.module.parameters())


def test_calibration_pipeline_instantiates(asset_cache: Path) -> None:
    from avbench.phases.build import build_pipeline

    cfg = compose_avbench("pipeline=calibration")
    pipe = build_pipeline(cfg, torch.device("cpu"), torch.float32, "torch", asset_cache)
    assert pipe.stage_names == ["short", "medium", "long"]
