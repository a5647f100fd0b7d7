"""Output folders: tasks that run no benchmark leave no folder behind; folder names. (A
single run's folder, outputs/<date>/<time>-<run id>, is checked on the command line's run in
tests/test_cli.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from avbench.run_dir import cell_name, remove_if_unused
from tests.conftest import run_cli
from tests.test_interrupt import NO_PROBES


@pytest.mark.slow
def test_doctor_leaves_no_run_folder(mlflow_store: str, tmp_path: Path) -> None:
    done = run_cli("task=doctor", *NO_PROBES, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()


def test_folder_with_files_of_its_own_is_kept(tmp_path: Path) -> None:
    only_hydra = tmp_path / "outputs" / "2026-01-01" / "10-00-00-pid1"
    (only_hydra / ".hydra").mkdir(parents=True)
    (only_hydra / "avbench.log").write_text("")
    remove_if_unused(only_hydra, only_hydra / "avbench.log")
    assert not (tmp_path / "outputs").exists()  # nor the <date> and outputs/ left empty
    kept = tmp_path / "outputs" / "2026-01-02" / "10-00-00-pid1"
    (kept / ".hydra").mkdir(parents=True)
    (kept / "compare.json").write_text("{}")
    remove_if_unused(kept, kept / "avbench.log")
    assert (kept / "compare.json").exists()


def test_cell_names_are_one_safe_path_component() -> None:
    assert cell_name(3, "audio.path=/data/a b.wav,preset=fast") == (
        "3-audio.path=_data_a_b.wav,preset=fast")
    assert cell_name(0, "") == "0-default"
    assert len(cell_name(12, "x=" + "y" * 500)) == 120
