"""Shared fixtures: every test starts with an empty job journal and gets its thread counts
back; a pre-migrated MLflow store per test; the tiny sweep and the command-line runs that
several files read (made once per session); a shared asset cache; the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, MutableMapping
from pathlib import Path

import pytest

from avbench.measure.openmp import bound_idle_spin

# As `python -m avbench` does, before torch loads libgomp: idle OpenMP workers spin 0.35 ms,
# not libgomp's default ~8 ms of CPU per idle period, which on a busy machine (two test
# workers, their runs) is CPU taken from the other worker's runs.
bound_idle_spin()

import torch  # noqa: E402 (after the bound); importing torch does not import triton


def interpret_triton(environ: MutableMapping[str, str], cuda_available: bool) -> None:
    """Triton kernels compile on a CUDA device and run under the interpreter without one
    (``TRITON_INTERPRET=1``, read when a kernel is decorated); a value already set wins."""
    if not cuda_available:
        environ.setdefault("TRITON_INTERPRET", "1")


# Before anything imports triton or kernels_triton.
interpret_triton(os.environ, torch.cuda.is_available())

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_journal() -> Iterator[None]:
    """Every test starts and ends with an empty job journal (what in-process runs record and
    ``journal.exit_code`` reads), so no run's outcome leaks into another test."""
    from avbench import journal

    journal.JOURNAL.clear()
    yield
    journal.JOURNAL.clear()


@pytest.fixture(autouse=True)
def _no_signal_state_leaks() -> Iterator[None]:
    """Every test starts with no pending or acknowledged signal and leaves none behind (a
    test that signals its own process, or an in-process run that installs avbench's
    handler, would otherwise make a later store write raise ``Interrupted``), and gets
    the signal handlers it started with back."""
    import signal

    from avbench import interrupt

    handlers = {s: signal.getsignal(s) for s in interrupt.SIGNALS}
    interrupt._pending, interrupt._acknowledged, interrupt._deferring = None, False, 0
    yield
    interrupt._pending, interrupt._acknowledged, interrupt._deferring = None, False, 0
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


@pytest.fixture(autouse=True)
def _thread_counts_restored() -> Iterator[None]:
    """Thread counts an in-process run sets (torch's, and the BLAS/OpenMP pools' through
    threadpoolctl: ``bench.threads``) are put back after each test, so no test runs on
    another's settings."""
    import torch
    from threadpoolctl import ThreadpoolController

    torch_threads = torch.get_num_threads()
    pools = [(pool, pool.num_threads) for pool in ThreadpoolController().lib_controllers]
    yield
    if torch.get_num_threads() != torch_threads:
        torch.set_num_threads(torch_threads)
    for pool, threads in pools:
        if pool.num_threads != threads:
            pool.set_num_threads(threads)


@pytest.fixture(scope="session")
def mlflow_template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite database migrated once per session; tests copy it (~5 s saved each)."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def mlflow_store(tmp_path: Path, mlflow_template_db: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private SQLite store for this test; asserts that no run is left RUNNING."""
    db = tmp_path / "mlflow.db"
    shutil.copy(mlflow_template_db, db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    yield uri
    assert_none_running(uri)


def assert_none_running(uri: str) -> None:
    """No run of the store at ``uri`` is left RUNNING."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    leaked = client.search_runs(experiments, "attributes.status = 'RUNNING'") if experiments else []
    assert not leaked, f"runs left RUNNING: {[r.info.run_name for r in leaked]}"


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory: pytest.TempPathFactory, mlflow_template_db: Path,
               asset_cache: Path):
    """The tiny real sweep store (tests/analysis/tiny_sweep.py), made once per session and
    shared by the analysis, report, compare, notebook and CLI tests."""
    from tests.analysis.tiny_sweep import make_tiny_sweep

    return make_tiny_sweep(tmp_path_factory.getbasetemp() / "tiny-sweep", mlflow_template_db,
                           asset_cache)


@pytest.fixture
def store(tiny_sweep):
    """A read client on the tiny sweep's store."""
    from avbench.analysis.runs import open_store

    return open_store(tiny_sweep.uri)


@pytest.fixture(scope="session")
def cli_single_run(tmp_path_factory: pytest.TempPathFactory, mlflow_template_db: Path,
                   asset_cache: Path):
    """One default run through the command line (tests/shared_runs.py), read by
    tests/test_cli.py (what it logs) and tests/evaluators/test_quality_run.py (grading)."""
    from tests.shared_runs import single_run

    run = single_run(tmp_path_factory.mktemp("cli-single-run"), mlflow_template_db,
                     asset_cache)
    yield run
    assert_none_running(run.uri)


@pytest.fixture(scope="session")
def cli_seeded_sweep(tmp_path_factory: pytest.TempPathFactory, mlflow_template_db: Path,
                     asset_cache: Path):
    """A two-preset sweep with seeded weights through the command line (tests/shared_runs.py),
    read by tests/test_cli.py (memory per cell) and tests/evaluators/test_quality_run.py."""
    from tests.shared_runs import seeded_sweep

    run = seeded_sweep(tmp_path_factory.mktemp("cli-seeded-sweep"), mlflow_template_db,
                       asset_cache)
    yield run
    assert_none_running(run.uri)


@pytest.fixture(scope="session")
def asset_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Test songs and voice profiles, generated once per session."""
    return tmp_path_factory.mktemp("avbench-cache")


def run_cli(*overrides: str, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run `python -m avbench <overrides>` as a user would, in a subprocess."""
    full_env = os.environ | {"PYTHONUNBUFFERED": "1"} | (env or {})
    return subprocess.run([sys.executable, "-m", "avbench", *overrides], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=timeout)


def start_cli(*overrides: str, cwd: Path, env: dict[str, str] | None = None,
              new_session: bool = False) -> subprocess.Popen[str]:
    """Start `python -m avbench` without waiting, so independent runs overlap;
    ``new_session``: in a process group of its own (to signal it as Ctrl-C does)."""
    full_env = os.environ | {"PYTHONUNBUFFERED": "1"} | (env or {})
    return subprocess.Popen([sys.executable, "-m", "avbench", *overrides], cwd=cwd,
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=new_session)


@pytest.fixture
def mlflow_server(tmp_path: Path, mlflow_template_db: Path) -> Iterator[str]:
    """A real `mlflow server` on a free loopback port (SQLite backend, a copy of the migrated
    template; local artifact root); yields its URI, stops it afterwards and asserts no run
    is left RUNNING."""
    import socket
    import time
    import urllib.request

    from mlflow.tracking import MlflowClient

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = tmp_path / "mlflow-server"
    root.mkdir()
    shutil.copy(mlflow_template_db, root / "mlflow.db")
    log = (root / "server.log").open("w")  # closed when the server has stopped
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
         f"sqlite:///{root}/mlflow.db", "--artifacts-destination", str(root / "artifacts"),
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=log, cwd=root)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("mlflow server did not start: "
                                       + (root / "server.log").read_text()[-2000:]) from None
                time.sleep(0.5)
        yield uri
        client = MlflowClient(tracking_uri=uri)
        experiments = [e.experiment_id for e in client.search_experiments()]
        leaked = client.search_runs(experiments, "attributes.status = 'RUNNING'")
        assert not leaked, f"runs left RUNNING: {[r.info.run_name for r in leaked]}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


# Runs several tests read, made once by a session or module fixture. Under pytest-xdist
# (`make test` runs two workers) such a fixture is made once per worker that needs it, so
# the tests reading one are kept on one worker (`--dist loadgroup`, group named after the
# fixture) and it is made once. Cheap shared fixtures (a migrated store, the asset folder)
# may be made on both workers.
CHEAP_SHARED = {"mlflow_template_db", "asset_cache", "tmp_path_factory", "onnx_cache"}


def shared_fixture(item: pytest.Item) -> str | None:
    """The costly session or module fixture ``item`` reads, if any (the first by name)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    costly = sorted(name for name, defs in info.name2fixturedefs.items()
                    if name not in CHEAP_SHARED and defs[-1].scope in ("session", "module")
                    and defs[-1].baseid.startswith("tests"))
    return costly[0] if costly else None


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = shared_fixture(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
