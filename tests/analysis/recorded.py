"""Runs written straight into a real MLflow store, with the verdicts a test needs.

A real sweep cannot be made unstable or parity-failing on demand; these records carry what a
run of avbench records (choices, identity params, headline metrics, ``timings.csv``) plus an
explicit ``validity`` verdict, so the summaries built on them can be checked exactly.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from mlflow.tracking import MlflowClient

GROUPS = {"pipeline": "calibration", "preset": "fast", "precision": "fp32",
          "backend": "pytorch", "kernel": "auto", "gpu": "cpu", "audio": "1s",
          "scenario": "offline"}


def open_sweep(client: MlflowClient, name: str = "recorded") -> tuple[str, str]:
    """A sweep parent; returns (experiment id, parent run id)."""
    experiment = client.get_experiment_by_name("avbench")
    experiment_id = (experiment.experiment_id if experiment
                     else client.create_experiment("avbench"))
    parent = client.create_run(experiment_id, run_name=name, tags={
        "avbench.sweep": "true", "avbench.sweep.name": name})
    return experiment_id, parent.info.run_id


def record_run(client: MlflowClient, experiment_id: str, name: str, total_ms: float,
               parent: str | None = None, validity: str | None = "VALID", reasons: str = "",
               choices: dict[str, str] | None = None, tags: dict[str, str] | None = None,
               metrics: dict[str, float] | None = None, repeats: int = 12,
               timings: bool = True, status: str = "FINISHED", job: int = 0) -> str:
    """One run of 1 s of audio whose repeats take ``total_ms`` (+-1 %, seeded); one that did
    not finish (``status``) records no figures."""
    groups = GROUPS | (choices or {})
    samples = total_ms * np.random.default_rng(len(name)).uniform(0.99, 1.01, repeats)
    all_tags = {f"choice.{k}": v for k, v in groups.items()} | {
        "hardware.key": "box", "hardware.cpu_model": "EPYC", "hardware.gpu_name": "none",
        "device": "cpu", "backend.requested": groups["backend"],
        "backend.effective": groups["backend"], "kernel.effective": "torch",
        "bench.repeats": str(repeats), "bench.unstable": "false"} | (tags or {})
    if validity is not None:
        all_tags |= {"validity": validity, "validity.reasons": reasons}
    if parent is not None:
        all_tags |= {"mlflow.parentRunId": parent, "avbench.job_num": str(job)}
    run_id = client.create_run(experiment_id, run_name=name, tags=all_tags).info.run_id
    for key, value in {"pipeline.name": groups["pipeline"], "preset.name": groups["preset"],
                       "precision.dtype": groups["precision"],
                       "scenario.name": groups["scenario"]}.items():
        client.log_param(run_id, key, value)
    rtf = float(np.median(samples)) / 1000.0
    figures = {"rtf": rtf, "rtf.cv": float(samples.std() / samples.mean()),
               "rtf.ci_low": rtf * 0.99, "rtf.ci_high": rtf * 1.01,
               "audio_duration_s": 1.0} | (metrics or {})
    if status != "FINISHED":  # a run that did not finish measured nothing
        figures = {}
    for key, value in figures.items():
        client.log_metric(run_id, key, value)
    if timings:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "timings.csv"
            path.write_text("repeat,total_ms\n" + "".join(
                f"{i},{ms}\n" for i, ms in enumerate(samples)))
            client.log_artifact(run_id, str(path))
    client.set_terminated(run_id, status=status)
    return run_id
