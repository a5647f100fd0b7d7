"""The params of a run: each setting once, only those the run's task, pipeline, backend and
scenario read (avbench.params), on composed configs (no run needed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from avbench.config import register_configs
from avbench.params import BACKEND_READS, SCENARIO_READS, settings_params, settings_tags
from avbench.tasks import task_module
from avbench.tracking.keys import unregistered

REPO = Path(__file__).resolve().parents[1]


def params_of(*overrides: str, device_type: str = "cpu") -> dict:
    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["paths.output_dir=/tmp/unused", *overrides])
    options = getattr(task_module(cfg.task.name), "TASK_OPTIONS", None)
    return settings_params(cfg, options, device_type=device_type)


@pytest.mark.parametrize("overrides", [(), ("debug=default",)])
def test_a_default_svc_run_is_lean(overrides: tuple[str, ...]) -> None:
    params = params_of(*overrides)
    assert len(params) <= 60, len(params)
    assert unregistered("param", params) == set()
    assert not [k for k in params if k.startswith(("paths.", "tracking.", "sweep.", "validity.",
                                                   "limits.", "tags.")) or "cache_dir" in k]
    assert None not in params.values()
    assert not {"pipeline.voice", "pipeline.max_chars", "pipeline.threads", "backend.providers",
                "backend.opset", "backend.compile_mode", "audio.profile_min_s",
                "precision.parity.min_cosine", "precision.tf32", "bench.min_gpu_util_pct",
                "text.corpus", "scenario.duration_s", "serve.port", "task.n_fft"} & set(params)
    assert params["preset.svc.n_flows"] > 0 and params["backend.name"] == "pytorch"


def test_what_a_backend_precision_and_device_read() -> None:
    ort = params_of("backend=onnxruntime", "precision=fp16")
    assert ort["backend.providers"][-1] == "CPUExecutionProvider"
    assert {"backend.opset", "backend.ort_spinning", "audio.profile_min_s",
            "precision.parity.min_cosine", "precision.quality.max_log_mel_db"} <= set(ort)
    assert "backend.workspace_mb" not in ort and "backend.compile_mode" not in ort
    trt = params_of("backend=tensorrt", device_type="cuda")
    assert {"backend.workspace_mb", "precision.tf32", "bench.min_gpu_util_pct"} <= set(trt)
    assert "backend.providers" not in trt
    # fp32 eager with torch kernels is the reference: no gate, no thresholds
    assert "precision.parity.max_rel_l2" not in params_of("kernel=torch")
    assert "precision.parity.max_rel_l2" in params_of("kernel=torch", "backend.parity.enabled"
                                                      "=true", "precision.tf32=true",
                                                      device_type="cuda")


def test_what_a_pipeline_and_scenario_read() -> None:
    tts = params_of("pipeline=tts")
    assert tts["pipeline.max_chars"] == 600 and tts["text.corpus"] == "harvard"
    assert not [k for k in tts if k.startswith(("preset.", "audio."))]
    assert tts["pipeline.settings.vocoder"]  # a value pointing at the preset: logged in place
    server = params_of("scenario=server")
    assert {"scenario.target_qps", "scenario.latency_bound_ms"} <= set(server)
    assert "scenario.chunk_s" not in server and "serve.port" not in server
    assert "serve.port" in params_of("scenario=http", "pipeline=tts")
    kernels = params_of("task=kernels")
    assert "task.n_fft" in kernels and "pipeline.name" not in kernels
    data = params_of("task=data")
    assert "data.workers" in data and "audio.duration_s" not in data


def test_settings_tags() -> None:
    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["paths.output_dir=/tmp/unused"])
    tags = settings_tags(cfg, "/runs/x")
    assert tags["paths.output_dir"] == "/runs/x" and tags["validity.max_cv"] == "0.1"
    assert "validity.min_epochs" not in tags and "validity.max_error_pct" not in tags
    assert unregistered("tag", tags) == set()


def test_backend_reads_are_what_the_backends_read() -> None:
    """BACKEND_READS lists exactly the ``ctx.cfg.<key>`` each backend module reads."""
    for name, reads in BACKEND_READS.items():
        source = (REPO / "avbench" / "backends" / f"{name}.py").read_text()
        read = {f"backend.{key}" for key in re.findall(r"ctx\.cfg\.(\w+)", source)}
        assert read == {k for k in reads if k.startswith("backend.")}, name


def test_scenario_reads_cover_each_scenarios_options() -> None:
    """Every key an option file of conf/scenario/ sets is one its scenario reads."""
    for path in (REPO / "conf" / "scenario").glob("*.yaml"):
        keys = set(OmegaConf.load(path)) - {"name", "defaults"}
        assert keys <= set(SCENARIO_READS[path.stem]), path.stem
