"""Sweep bookkeeping: any override form as an axis, clean param keys, unique run names, a
resume key that holds what makes a result stale, and a folder of its own per sweep."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from avbench.config import register_configs
from avbench.sweeps.job import (
    cell_key,
    cell_run_name,
    config_digest,
    decode_axes,
    encode_axes,
    input_files,
    short_keys,
)
from avbench.sweeps.plan import Cell, SweepPlan
from avbench.sweeps.store import open_parent, param_key
from tests.conftest import REPO


def test_swept_keys_become_clean_param_keys_on_a_real_parent(mlflow_store: str) -> None:
    assert param_key("+pipeline.hidden") == param_key("++pipeline.hidden") == "pipeline.hidden"
    assert param_key("hydra/launcher") == "hydra/launcher"
    assert param_key("+a.b[0]") == "a.b_0_"
    client = MlflowClient(tracking_uri=mlflow_store)
    experiment_id = client.create_experiment("sweep")
    plan = SweepPlan([Cell(0, ("+pipeline.hidden=16",)), Cell(1, ("+pipeline.hidden=64",))],
                     {"+pipeline.hidden": ["16", "64"]}, parallel=1, launcher="basic")
    parent = open_parent(client, experiment_id, plan, "s", {})
    assert client.get_run(parent).data.params["sweep.axis.pipeline.hidden"] == "16,64"
    client.set_terminated(parent)


def test_run_names_hold_every_swept_axis_and_are_unique() -> None:
    axes = {"precision": ["fp32", "bf16"], "gpu": ["cpu", "h100"], "+pipeline.hidden": ["16"]}
    names = {cell_run_name("svc-fast-fp32-pytorch-1s", ("preset=fast", f"precision={p}",
                                                        f"gpu={g}", "+pipeline.hidden=16"),
                           axes, num)
             for num, (p, g) in enumerate([("fp32", "cpu"), ("bf16", "cpu"), ("fp32", "h100"),
                                           ("bf16", "h100")])}
    assert "svc-fast-fp32-pytorch-1s-gpu=cpu-hidden=16" in names and len(names) == 4
    # A value given twice (preset=fast,fast) gets the job number.
    twice = {"preset": ["fast", "fast"]}
    assert {cell_run_name("svc-fast", ("preset=fast",), twice, n) for n in (0, 1)} == {
        "svc-fast-#0", "svc-fast-#1"}
    assert short_keys(["+a.size", "b.size", "preset"]) == {"+a.size": "a.size",
                                                          "b.size": "b.size", "preset": "preset"}
    assert decode_axes(encode_axes(axes)) == axes


def compose_cell(tmp_path: Path, *overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("config", overrides=["pipeline=calibration", "audio=1s", *overrides])


def test_the_resume_key_holds_the_input_files_content(tmp_path: Path) -> None:
    song = tmp_path / "song.wav"
    sf.write(song, np.zeros(2205, dtype=np.float32), 22050)
    cfg = compose_cell(tmp_path, f"audio.path={song}")
    inputs = input_files(cfg)
    assert set(inputs) == {"audio.path"}

    def key() -> str:
        return cell_key(config_digest(cfg), "box", 0, str(sorted(input_files(cfg).items())),
                        "software")

    unchanged = key()
    assert key() == unchanged
    sf.write(song, np.ones(2205, dtype=np.float32) * 0.1, 22050)  # same path, new content
    assert input_files(cfg)["audio.path"] != inputs["audio.path"] and key() != unchanged
    assert cell_key(config_digest(cfg), "box", 0, "a", "software") != cell_key(
        config_digest(cfg), "box", 0, "a", "other software")


def test_each_sweep_draws_its_own_folder(tmp_path: Path) -> None:
    """The resolver is cached per config (every job of one sweep sees the same folder) and
    drawn afresh for another sweep's config, whatever the clock says."""
    register_configs()
    folders = []
    for _ in range(2):
        cfg = OmegaConf.create({"dir": "multirun/${avbench_sweep:}", "again": "${avbench_sweep:}"})
        assert cfg.dir.endswith(cfg.again)
        folders.append(cfg.dir)
    assert folders[0] != folders[1]
    # Two sweeps started together through the command line: tests/test_help.py's examples.
