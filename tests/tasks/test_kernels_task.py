"""task=kernels: in process (tracking=none) and through the real CLI into a temporary store."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from avbench import runner
from avbench.runtime import triton_available
from tests.conftest import run_cli
from tests.tasks.test_pipeline_task import compose_run

QUICK = ["task=kernels", "audio=1s", "task.warmup=1", "task.repeats=2", "task.pyin_max_s=0.5"]


def test_kernels_task_times_every_implementation(tmp_path: Path, asset_cache: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    kernel = "triton" if triton_available() else "torch"
    result = runner.run(compose_run(tmp_path, asset_cache, *QUICK, f"kernel={kernel}",
                                   "task.interpret_max_s=0.1"))
    assert result.ok, result.error
    with open(tmp_path / "out" / "kernels.csv") as handle:
        rows = {(r["family"], r["impl"]): r for r in csv.DictReader(handle)}
    expected = {"torch", "torchaudio", "librosa"} | ({"triton_interpreted"} if kernel == "triton"
                                                     else set())
    for family in ("stft", "log_mel"):
        assert {impl for fam, impl in rows if fam == family} == expected
        for impl in expected:
            row = rows[(family, impl)]
            assert float(row["median_ms"]) > 0
            # Every implementation computes the same spectra (float32 rounding apart).
            assert float(row["max_rel_err"]) < 1e-4, (family, impl, row["max_rel_err"])
        assert float(rows[(family, "torch")]["speedup_vs_torch"]) == pytest.approx(1.0)
        assert float(rows[(family, "torch")]["speedup_vs_librosa"]) > 0
    f0 = {impl: row for (fam, impl), row in rows.items() if fam == "f0"}
    assert {"torch", "torchaudio", "librosa_yin", "librosa_pyin"} <= set(f0)
    assert float(f0["torch"]["pitch_rpa_50c"]) > 0.8
    # Same algorithm as librosa.yin: the same RMSE over the reference-voiced frames.
    assert float(f0["torch"]["pitch_rmse_ref_voiced_hz"]) == pytest.approx(
        float(f0["librosa_yin"]["pitch_rmse_ref_voiced_hz"]), rel=0.05)
    assert float(f0["librosa_pyin"]["audio_s"]) == pytest.approx(0.5, abs=0.01)
    if kernel == "triton":
        interpreted = f0["triton_interpreted"]
        assert interpreted["interpreted"] == "True" and float(interpreted["audio_s"]) <= 0.1
        assert interpreted["speedup_vs_torch"] == "" and interpreted.get("gflops", "") == ""
        assert float(interpreted["pitch_rpa_50c"]) > 0.5
    assert result.metrics["kernels.log_mel.torch.time_ms.p50"] > 0
    table = json.loads((tmp_path / "out" / "kernels.json").read_text())
    assert table["threads"] >= 1 and len(table["rows"]) == len(rows)
    # Two repeats an implementation: INVALID whatever the machine, said first.
    assert result.validity == "INVALID" and "repeats 2 < 5 (stft/torch)" in result.reasons
    assert not any("interpreted" in reason for reason in result.reasons)  # not speed: unjudged
    assert result.metrics["kernels.stft.torch.time_ms.cv"] >= 0
    assert f"avbench · {result.name} · INVALID: repeats 2 < 5" in capsys.readouterr().out


def test_unknown_family_is_a_clear_error(tmp_path: Path, asset_cache: Path) -> None:
    result = runner.run(compose_run(tmp_path, asset_cache, "task=kernels", "task.families=[fft]"))
    assert not result.ok and "task.families has ['fft']" in result.error


@pytest.mark.slow
def test_kernels_cli_logs_one_metric_per_figure(mlflow_store: str, asset_cache: Path,
                                                tmp_path: Path) -> None:
    kernel = "triton" if triton_available() else "torch"
    # An empty TRITON_INTERPRET: kernel=triton on the CPU must switch the interpreter on itself.
    done = run_cli(*QUICK, f"kernel={kernel}", "task.families=[log_mel,f0]",
                   "task.interpret_max_s=0.1", f"paths.cache_dir={asset_cache}",
                   f"hydra.run.dir={tmp_path}/run", cwd=tmp_path, env={"TRITON_INTERPRET": ""})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "median ms" in done.stdout and "librosa_yin" in done.stdout
    client = MlflowClient(tracking_uri=mlflow_store)
    (run,) = client.search_runs([client.get_experiment_by_name("avbench").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == f"kernels-{kernel}-fp32-1s"
    metrics, tags = run.data.metrics, run.data.tags
    assert metrics["kernels.log_mel.torch.time_ms.p50"] > 0
    assert metrics["kernels.log_mel.torchaudio.speedup_vs_torch"] > 0
    assert metrics["kernels.f0.torch.speedup_vs_librosa_yin"] > 0
    assert metrics["threads.torch"] >= 1
    assert tags["kernel.effective"] == kernel
    assert tags["kernel.interpreted"] == str(kernel == "triton").lower()
    if kernel == "triton":
        assert "not speed" in done.stdout
        assert metrics["kernels.log_mel.triton_interpreted.max_abs_err"] < 1e-3
        assert not any(k.startswith("kernels.log_mel.triton.") for k in metrics)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"kernels.csv", "kernels.json", "config.yaml"} <= artifacts
