"""Signals on real processes: SIGTERM / SIGINT end the run (and the sweep) KILLED with the
reason, print one line and exit 128 + signal; after SIGKILL the liveness check of the next
sweep or task=doctor ends what the dead process left RUNNING."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from mlflow.tracking import MlflowClient

from avbench import runner
from avbench.serve.server import free_port
from avbench.tracking.liveness import HOST_TAG, PID_TAG, START_TAG, is_alive, process_tags
from tests.conftest import run_cli, start_cli
from tests.tasks.test_pipeline_task import compose_run

# A real benchmark that keeps timing for a minute: long enough to be interrupted.
LONG = ["pipeline=calibration", "debug=default", "bench.min_time_s=600", "bench.max_repeats=1000000"]
# Doctor without its timed probes (noise, peaks): what these tests read is not timed.
NO_PROBES = ("task.noise_probe_s=0", "task.peaks_s=0")


def _runs(uri: str) -> list:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("avbench")
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time"])


def _wait_for_running(uri: str, process: subprocess.Popen, count: int = 1) -> list:
    """The runs once ``count`` of them are RUNNING (the process is inside the benchmark)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        running = [r for r in _runs(uri) if r.info.status == "RUNNING"]
        if len(running) >= count:
            return running
        time.sleep(0.5)
    process.kill()
    raise AssertionError("the run never started")


def _signal_and_wait(process: subprocess.Popen, signum: int) -> tuple[int, str, str]:
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    return process.returncode, stdout, stderr


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_ends_a_single_run_killed(mlflow_store: str, tmp_path: Path, asset_cache: Path,
                                         signum: int, code: int) -> None:
    process = start_cli(*LONG, f"paths.cache_dir={asset_cache}", cwd=tmp_path)
    _wait_for_running(mlflow_store, process)
    # At once: the run is making its first store writes, where SQLAlchemy's weakref
    # callbacks run (a signal handled inside one was once dropped and the run went on).
    time.sleep(0.3)
    returncode, stdout, stderr = _signal_and_wait(process, signum)
    name = signal.Signals(signum).name
    assert returncode == code
    (run,) = _runs(mlflow_store)
    assert stderr.strip().splitlines() == [
        f"avbench: interrupted by {name}: the run {run.info.run_id} was ended KILLED"]
    assert "Traceback" not in stdout + stderr
    assert run.info.status == "KILLED" and run.data.tags["error"] == f"interrupted by {name}"
    assert run.data.tags[PID_TAG] == str(process.pid)


@pytest.mark.slow
def test_sigterm_ends_a_sweep_and_its_current_cell(mlflow_store: str, tmp_path: Path,
                                                   asset_cache: Path) -> None:
    process = start_cli("-m", *LONG, "audio=1s,5s", f"paths.cache_dir={asset_cache}",
                        cwd=tmp_path)
    _wait_for_running(mlflow_store, process, count=2)  # the parent and its first cell
    returncode, stdout, stderr = _signal_and_wait(process, signal.SIGTERM)
    assert returncode == 143 and "Traceback" not in stdout + stderr, stdout + stderr
    (line,) = stderr.strip().splitlines()
    assert re.fullmatch(r"avbench: interrupted by SIGTERM: the sweep sweep-audio-\S+ was "
                        r"ended KILLED, and its 1 cell\(s\) in progress", line), line
    runs = _runs(mlflow_store)
    assert len(runs) == 2, "the second cell must not start"
    assert {r.info.status for r in runs} == {"KILLED"}
    assert {r.data.tags["error"] for r in runs} == {"interrupted by SIGTERM"}
    cells = [p for p in (tmp_path / "multirun").glob("*/*/*") if p.is_dir()]
    assert [c.name for c in cells] == [  # multirun/<date>/<time>/<job number>-<overrides>
        "0-audio=1s,bench.max_repeats=1000000,bench.min_time_s=600,debug=default,"
        "pipeline=calibration"]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["main process", "process group"])
def test_signalled_joblib_sweep_leaves_no_cell_running(mlflow_store: str, tmp_path: Path,
                                                      asset_cache: Path, target: str) -> None:
    """Both cells run in loky workers when the sweep is signalled: SIGTERM to the main
    process (joblib then kills its workers), or SIGINT to the whole process group (Ctrl-C:
    the workers get it too). Every run ends KILLED, by its worker or by the parent."""
    process = start_cli("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *LONG[:2],
                        "bench.max_repeats=1000000", "bench.min_time_s=600,601",
                        f"paths.cache_dir={asset_cache}", cwd=tmp_path, new_session=True)
    _wait_for_running(mlflow_store, process, count=3)  # the parent and both cells
    if target == "main process":
        signum = signal.SIGTERM
        process.send_signal(signum)
    else:
        signum = signal.SIGINT
        os.killpg(process.pid, signum)
    stdout, stderr = process.communicate(timeout=120)
    name = signal.Signals(signum).name
    assert process.returncode == 128 + signum, stdout + stderr
    assert "Traceback" not in stdout + stderr
    (line,) = stderr.strip().splitlines()
    assert re.fullmatch(rf"avbench: interrupted by {name}: the sweep \S+ was ended KILLED, "
                        r"and its 2 cell\(s\) in progress", line), line
    runs = _runs(mlflow_store)
    assert len(runs) == 3 and {r.info.status for r in runs} == {"KILLED"}
    assert all(r.data.tags["error"].startswith(f"interrupted by {name}") for r in runs)
    cells = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert {r.data.tags[PID_TAG] for r in cells}.isdisjoint({str(process.pid)})  # workers


@pytest.mark.slow
def test_a_signal_where_no_run_exists_says_so(mlflow_store: str, tmp_path: Path,
                                             asset_cache: Path) -> None:
    """task=serve opens no run: an early Ctrl-C says what it stopped, never "KILLED"."""
    process = start_cli("task=serve", "pipeline=tts", "weights=seeded", "text=short",
                        f"serve.port={free_port()}", f"paths.cache_dir={asset_cache}",
                        cwd=tmp_path)
    assert process.stdout is not None
    for line in process.stdout:
        if "build" in line:  # the pipeline is being built: no server yet
            break
    returncode, _, stderr = _signal_and_wait(process, signal.SIGINT)
    assert returncode == 130
    assert stderr.strip().splitlines() == ["avbench: interrupted by SIGINT: serve-tts stopped"]
    assert _runs(mlflow_store) == []


def _doctor(tmp_path: Path, asset_cache: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """task=doctor in this process (the killed run's process is what is real here): what
    it printed; it must pass."""
    result = runner.run(compose_run(tmp_path, asset_cache, "task=doctor", "tracking=mlflow",
                                    *NO_PROBES))
    out = capsys.readouterr().out
    assert result.ok, result.error
    return out


@pytest.mark.slow
def test_sigkill_leftovers_are_ended_by_doctor_and_by_the_next_sweep(
        mlflow_store: str, tmp_path: Path, asset_cache: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    for cleaner in ("doctor", "sweep"):
        process = start_cli(*LONG, f"paths.cache_dir={asset_cache}", cwd=tmp_path)
        (left,) = _wait_for_running(mlflow_store, process)
        # A live run is never touched, however old.
        if cleaner == "doctor":
            _doctor(tmp_path, asset_cache, capsys)
            assert MlflowClient(tracking_uri=mlflow_store).get_run(
                left.info.run_id).info.status == "RUNNING"
        process.kill()
        process.communicate(timeout=60)
        assert MlflowClient(tracking_uri=mlflow_store).get_run(
            left.info.run_id).info.status == "RUNNING"
        if cleaner == "doctor":
            out = _doctor(tmp_path, asset_cache, capsys)
            assert re.search(r"ended KILLED 1 run\(s\) left RUNNING", out.replace("\n", " ")), out
        else:
            done = run_cli("-m", "pipeline=calibration", "debug=default",
                           f"paths.cache_dir={asset_cache}", cwd=tmp_path)
            assert done.returncode == 0, done.stdout + done.stderr
        run = MlflowClient(tracking_uri=mlflow_store).get_run(left.info.run_id)
        assert run.info.status == "KILLED"
        assert f"pid {process.pid}" in run.data.tags["error"]
        assert "liveness check" in run.data.tags["error"]


def test_liveness_by_pid_and_start_time_never_by_age() -> None:
    own = process_tags()
    assert own[PID_TAG] == str(os.getpid()) and is_alive(own) is True
    child = subprocess.Popen(["sleep", "30"])
    try:
        tags = {HOST_TAG: own[HOST_TAG], PID_TAG: str(child.pid),
                START_TAG: f"{psutil.Process(child.pid).create_time():.3f}"}
        assert is_alive(tags) is True
        # The same pid started at another time is another process (a reused pid).
        assert is_alive(tags | {START_TAG: f"{float(tags[START_TAG]) - 3600:.3f}"}) is False
    finally:
        child.kill()
        child.wait()
    assert is_alive(tags) is False
    assert is_alive(tags | {HOST_TAG: "another-host"}) is None  # cannot be seen from here
    assert is_alive({}) is None  # a run without the tags is never ended


def test_a_signal_inside_a_store_write_is_raised_after_it(handler_installed: None) -> None:
    from avbench import interrupt

    finished = False
    with (pytest.raises(interrupt.Interrupted, match="interrupted by SIGTERM"),
          interrupt.deferred()):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)  # the handler has run by now, and deferred the signal
        finished = True
    assert finished


@pytest.fixture
def handler_installed() -> Iterator[None]:
    """avbench's signal handler in this process, restored afterwards."""
    import sys

    from avbench import interrupt

    previous = {s: signal.getsignal(s) for s in interrupt.SIGNALS}
    previous_hook = sys.unraisablehook
    interrupt.install()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = previous_hook


class _SignalsOnDelete:
    """An object whose ``__del__`` receives the signal: Python runs the handler there and
    drops what it raises, as it does inside SQLAlchemy's weakref callbacks."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        sum(range(1000))  # a few bytecodes: the handler runs here, inside __del__


def test_a_signal_dropped_inside_a_destructor_is_delivered_again(handler_installed: None,
                                                                 ) -> None:
    from avbench import interrupt

    with pytest.raises(interrupt.Interrupted, match="interrupted by SIGTERM"):
        _SignalsOnDelete()  # deleted at once: the first Interrupted is dropped
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.01)  # the signal is raised again here


def test_after_acknowledgement_signals_are_ignored(handler_installed: None) -> None:
    from avbench import interrupt

    with pytest.raises(interrupt.Interrupted):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)
    interrupt.acknowledge()  # the runs are being closed
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.1)  # nothing is raised
