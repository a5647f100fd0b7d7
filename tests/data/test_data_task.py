"""task=data through the real CLI: a sweep over loader= into a temporary MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import run_cli

TINY = ["task=data", "data.clips=5", "data.min_s=0.3", "data.max_s=0.6", "data.epochs=2",
        "data.batch_size=2", "data.shard_clips=2", "data.build_workers=1",
        "data.source_sample_rate=16000", "data.sample_rate=16000", "data.n_fft=512",
        "data.hop_length=128", "data.n_mels=40", "data.frame_length=1024", "data.fmin=80",
        "data.model_channels=8", "data.segment_frames=8"]


@pytest.mark.slow
def test_data_sweep_through_the_cli(tmp_path: Path, mlflow_store: str,
                                    asset_cache: Path) -> None:
    from avbench import runner
    from tests.tasks.test_pipeline_task import compose_run

    done = run_cli("-m", *TINY, "loader=naive,mmap", f"data.cache_dir={tmp_path / 'cache'}",
                   "data.compare=[naive,npy,mmap]", "data.compare_epochs=1",
                   f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "· INVALID: timed epochs 1 < 2" in done.stdout
    client = MlflowClient(mlflow_store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              "tags.`avbench.task` = 'data'")
    assert sorted(r.data.tags["choice.loader"] for r in runs) == ["mmap", "naive"]
    for run in runs:
        assert run.info.status == "FINISHED"
        metrics = run.data.metrics
        for key in ("data.loader_samples_per_s", "data.samples_per_s", "data.audio_s_per_s",
                    "data.loader_wait_pct", "data.step_ms.p50", "data.cache_build_s",
                    "data.cache_size_mb", "data.samples_per_s.first_epoch",
                    "data.loader_samples_per_s.naive", "data.loader_samples_per_s.mmap",
                    "data.speedup.mmap_vs_naive", "data.cpu_pct.main"):
            assert metrics[key] > 0 or key == "data.loader_wait_pct", key
        assert 0 <= metrics["data.loader_wait_pct"] <= 100
        assert run.data.tags["data.bottleneck"] in ("loader", "compute")
        assert run.data.tags["data.recommendation"]
        assert run.data.tags["data.clips"] == "5"
        # Two epochs: the medians are of one timed epoch (the first is apart), too few.
        assert run.data.tags["validity"] == "INVALID"
        assert run.data.tags["validity.reasons"] == "timed epochs 1 < 2"
        history = client.get_metric_history(run.info.run_id, "data.epoch.samples_per_s")
        assert sorted(m.step for m in history) == [0, 1]
    built = sorted(r.data.tags["data.cache_shards_built"] for r in runs)
    assert built == ["0", "3"]  # the second job reused the first one's cache
    epochs = list((tmp_path / "sweep").rglob("data_epochs.json"))
    assert len(epochs) == 2 and len(json.loads(epochs[0].read_text())["epochs"]) == 2
    # The report of that sweep, in process (task=report's command line has its own test).
    report = runner.run(compose_run(tmp_path / "report", asset_cache, "task=report",
                                    "tracking=mlflow"))
    assert report.ok, report.error
    text = (tmp_path / "sweep" / "report" / "report.md").read_text()
    section = text.split("## Training input (task=data)")[1].split("\n## ")[0]
    assert "| mmap | 0 |" in section and "| naive | 0 |" in section
    assert "mmap_vs_naive x" in section
