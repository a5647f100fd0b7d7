"""Whole runs on each backend, logged to a real MLflow store: tags, cold start, parity gate."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import onnxruntime
import pytest
import torch
from mlflow.tracking import MlflowClient

from avbench import runner
from avbench.backends.onnxruntime import CPU, OPENVINO
from tests.conftest import assert_none_running
from tests.tasks.test_pipeline_task import compose_run

pytestmark = pytest.mark.slow


def tracked_run(tmp_path: Path, asset_cache: Path, store: str, *overrides: str,
                cache: Path | None = None):
    """One run in process, tracked in ``store``; backend cache ``cache`` (or a new one)."""
    result = runner.run(compose_run(tmp_path, asset_cache, "tracking=mlflow",
                                   f"tracking.uri={store}",
                                   f"backend.cache_dir={cache or tmp_path / 'cache'}",
                                   *overrides))
    run = MlflowClient(tracking_uri=store).get_run(result.run_id)
    return result, run


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's backend cache: empty until ``onnxruntime_runs`` exports into it."""
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def onnxruntime_runs(tmp_path_factory: pytest.TempPathFactory, mlflow_template_db: Path,
                     asset_cache: Path, onnx_cache: Path) -> Iterator[tuple]:
    """Two ONNX Runtime runs of one cell: the first on the empty cache (it exports), the
    second reusing that export, interleaved with the eager reference, and gated at a 1e-12
    relative limit that no backend meets. Made once: the export is shared by this module."""
    root = tmp_path_factory.mktemp("onnxruntime-runs")
    shutil.copy(mlflow_template_db, root / "mlflow.db")
    store = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # the store's artifacts go under root
        first = tracked_run(root / "first", asset_cache, store, "backend=onnxruntime",
                            cache=onnx_cache)
        again = tracked_run(root / "again", asset_cache, store, "backend=onnxruntime",
                            "bench.eager_side_by_side=5", "precision.parity.max_rel_l2=1e-12",
                            cache=onnx_cache)
    yield first, again
    assert_none_running(store)


def test_onnxruntime_run_records_backend_cold_start_and_parity(onnxruntime_runs) -> None:
    (result, run), (again, run_again) = onnxruntime_runs
    assert result.ok, result.error
    tags, metrics = run.data.tags, run.data.metrics
    assert tags["backend.requested"] == "onnxruntime" == tags["backend.effective"]
    assert tags["backend.fallback_reason"] == "" and tags["backend.cache"] == "miss"
    # The CPU providers this onnxruntime build has, in the config's order (OpenVINO's CPU
    # plugin with onnxruntime-openvino, the default on Linux x86-64).
    available = set(onnxruntime.get_available_providers())
    expected = [p for p in (OPENVINO, CPU) if p in available]
    assert tags["backend.providers"] == ",".join(sorted(expected))
    assert metrics["cold.export_s"] > 0 and metrics["cold.load_s"] > 0
    assert metrics["cold.first_call_s"] > 0 and metrics["cold.model_s"] > 0
    # Time inside the six components: part of the neural stages' time, which adds their DSP.
    assert 0 < metrics["component_ms"] < metrics["neural_ms"]
    assert metrics["component_ms.vocoder"] > metrics["component_ms.mel_projection"] > 0
    # Same precision on another backend: within the fp32 thresholds, at every stage.
    assert tags["parity.pass"] == "true" and tags["parity.reference_cache"] == "miss"
    for stage in ("separation", "f0_extraction", "conversion", "vocoder", "mixing"):
        assert 0 <= metrics[f"parity.{stage}.rel_l2"] < 1e-3
        assert metrics[f"parity.{stage}.cosine"] > 0.99999
    for audio_stage in ("separation", "vocoder", "mixing"):
        assert metrics[f"parity.{audio_stage}.snr_db"] > 60
    assert "parity.f0_extraction.snr_db" not in metrics  # SNR is for audio only

    run = run_again
    assert again.ok and run.data.tags["backend.cache"] == "hit"
    assert run.data.tags["parity.reference_cache"] == "hit"
    assert run.data.metrics["cold.export_s"] == 0.0
    # Interleaved with the fp32 eager reference: speed-ups with their intervals.
    vs_eager = run.data.metrics
    assert vs_eager["vs_eager.eager_ms"] > 0
    for name in ("total", "neural"):
        speedup = f"vs_eager.{name}_speedup"
        assert (0 < vs_eager[f"{speedup}.ci_low"] <= vs_eager[speedup]
                <= vs_eager[f"{speedup}.ci_high"])


def test_parity_beyond_threshold_fails_the_run_when_enforced(
        tmp_path: Path, asset_cache: Path, mlflow_store: str, onnxruntime_runs,
        onnx_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # ONNX Runtime and PyTorch sum in different orders: a 1e-12 relative limit is exceeded.
    # (On the module's cache: the graphs exported by onnxruntime_runs are reused.)
    result, run = tracked_run(tmp_path, asset_cache, mlflow_store, "backend=onnxruntime",
                              "precision.parity.max_rel_l2=1e-12",
                              "backend.parity.enforce=true", cache=onnx_cache)
    assert not result.ok and result.error.startswith("parity beyond precision=fp32 thresholds")
    assert run.info.status == "FAILED" and run.data.tags["parity.pass"] == "false"
    assert "rel_l2" in run.data.tags["parity.failures"]
    assert run.data.metrics["parity.vocoder.rel_l2"] > 1e-12  # logged before the run failed
    assert capsys.readouterr().err.strip().startswith("avbench: error: parity beyond")


def test_parity_beyond_threshold_is_tagged_but_not_fatal_by_default(onnxruntime_runs) -> None:
    _, (result, run) = onnxruntime_runs  # the second run: max_rel_l2=1e-12, not enforced
    assert result.ok and run.info.status == "FINISHED"
    assert run.data.tags["parity.pass"] == "false" and "rel_l2" in run.data.tags[
        "parity.failures"]


def test_tensorrt_here_strict_fails(tmp_path: Path, asset_cache: Path,
                                    mlflow_store: str) -> None:
    """Without CUDA, backend=tensorrt fails the run; with backend.strict=false it falls back
    to fp32 eager, as the command line's backend sweep shows (tests/test_cli.py), where the
    fp32 eager run is also shown to be the parity reference itself (not compared)."""
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: tensorrt's absence cannot be shown here")
    result, run = tracked_run(tmp_path, asset_cache, mlflow_store, "backend=tensorrt")
    assert not result.ok and "needs a CUDA GPU" in result.error
    assert run.info.status == "FAILED"
