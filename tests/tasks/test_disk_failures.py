"""Full and read-only disks under the run folder, the sweep folder and the store: one line
naming the path and the cause (errno), no traceback, and no run left RUNNING.

The disks are small tmpfs mounts (root only; skipped with the reason elsewhere). A disk
that fills during a run is filled by the pipeline's own constructor, so the run is open
and past its first store writes when it happens, with no timing involved.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from avbench import runner
from avbench.pipelines.calibration import CalibrationPipeline
from tests.conftest import run_cli
from tests.tasks.test_pipeline_task import compose_run

CHEAP = ["pipeline=calibration", "debug=default"]
TO_FILL: list[Path] = []  # the disk FillsTheDisk fills when the pipeline is built


class FillsTheDisk(CalibrationPipeline):
    """The calibration pipeline, filling the disk of ``TO_FILL[0]`` when it is built."""

    def __init__(self, stage_ms: dict[str, float], sample_rate: int = 22050,
                 device: str = "cpu", name: str = "calibration") -> None:
        super().__init__(stage_ms, sample_rate, device, name)
        fill(TO_FILL[0])


def fill(folder: Path) -> None:
    """Write a file in ``folder`` until its disk is full."""
    fd = os.open(folder / "filler", os.O_CREAT | os.O_WRONLY | os.O_APPEND)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as error:
        assert error.errno == 28  # ENOSPC
    finally:
        os.close(fd)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        with contextlib.suppress(OSError):
            (mount / "filler").unlink()
        subprocess.run(["umount", "-l", str(mount)], check=False)


def read_only(mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    return line


@pytest.mark.slow
def test_run_folder_on_a_read_only_or_full_disk(mlflow_store: str, tmp_path: Path,
                                                asset_cache: Path, disk: Path) -> None:
    fill(disk)
    done = run_cli(*CHEAP, f"paths.cache_dir={asset_cache}", f"hydra.run.dir={disk}/run",
                   cwd=tmp_path)
    assert one_error_line(done).startswith(
        f"avbench: error: {disk}/run: No space left on device (ENOSPC); free space")
    (disk / "filler").unlink()
    shutil.rmtree(disk / "run", ignore_errors=True)
    read_only(disk)
    done = run_cli(*CHEAP, f"paths.cache_dir={asset_cache}", f"hydra.run.dir={disk}/run",
                   cwd=tmp_path)
    assert one_error_line(done).startswith(
        f"avbench: error: {disk}/run: Read-only file system (EROFS); write elsewhere")
    client = MlflowClient(tracking_uri=mlflow_store)
    assert client.get_experiment_by_name("avbench") is None  # no run was opened


@pytest.mark.slow
def test_sweep_on_a_read_only_disk_says_why_no_cell_ran(mlflow_store: str, tmp_path: Path,
                                                        asset_cache: Path, disk: Path) -> None:
    read_only(disk)
    done = run_cli("-m", *CHEAP, "audio=1s,5s", f"paths.cache_dir={asset_cache}",
                   f"hydra.sweep.dir={disk}/sweep", cwd=tmp_path)
    cause = f"{disk}/sweep: Read-only file system (EROFS)"
    line = one_error_line(done)
    assert line.startswith(f"avbench: error: {cause}") and line.endswith(
        "none of the sweep's cells ran"), line
    client = MlflowClient(tracking_uri=mlflow_store)
    (parent,) = client.search_runs([client.get_experiment_by_name("avbench").experiment_id])
    assert parent.info.status == "FAILED" and parent.data.tags["sweep.lost"] == "2"
    assert cause in parent.data.tags["sweep.notes"]
    assert f"not run: {cause}" in parent.data.tags["error"]


def test_output_disk_filling_during_a_run(mlflow_store: str, tmp_path: Path,
                                          asset_cache: Path, disk: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    TO_FILL[:] = [disk]
    result = runner.run(compose_run(
        tmp_path, asset_cache, "tracking=mlflow", *CHEAP,
        f"pipeline._target_={__name__}.FillsTheDisk", f"paths.output_dir={disk}/run"))
    assert result.status == "FAILED" and not result.crashed
    assert result.error.startswith(f"{disk}/run") and "No space left on device (ENOSPC" in (
        result.error)
    assert capsys.readouterr().err == f"avbench: error: {result.error}\n"
    run = MlflowClient(tracking_uri=mlflow_store).get_run(result.run_id)
    assert run.info.status == "FAILED" and run.data.tags["error"] == result.error


def test_store_disk_filling_during_a_run(tmp_path: Path, asset_cache: Path, disk: Path,
                                         mlflow_template_db: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    db = disk / "mlflow.db"
    shutil.copy(mlflow_template_db, db)
    TO_FILL[:] = [disk]
    result = runner.run(compose_run(
        tmp_path, asset_cache, "tracking=mlflow", f"tracking.uri=sqlite:///{db}", *CHEAP,
        f"pipeline._target_={__name__}.FillsTheDisk"))
    assert result.status == "FAILED" and not result.crashed
    assert result.error == (f"the MLflow store cannot be written: {db}: No space left on "
                            "device (ENOSPC: database or disk is full); free space on that "
                            "disk")
    assert capsys.readouterr().err == f"avbench: error: {result.error}\n"
    (disk / "filler").unlink()
    run = MlflowClient(tracking_uri=f"sqlite:///{db}").get_run(result.run_id)
    assert run.info.status == "FAILED"  # not RUNNING: the reserved room ended it
    assert run.data.tags["error"] == result.error
