"""A tracking server that cannot be reached: one line naming it, before any run starts;
a server that accepts connections but never answers does not hold a signal back."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from avbench.tracking.connection import (
    HTTP_BOUNDS,
    TrackingError,
    bound_requests,
    check_reachable,
    failing_fast,
)
from tests.conftest import run_cli, start_cli

CHEAP = ["pipeline=calibration", "debug=default"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silent_server() -> Iterator[tuple[str, threading.Event]]:
    """A TCP server on loopback that accepts connections and never answers; the event is
    set once a client has connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    connected = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            held.append(connection)
            connected.set()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", connected
    finally:
        server.close()
        for connection in held:
            connection.close()


def test_check_names_the_uri_and_the_cause() -> None:
    uri = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(TrackingError, match=rf"^cannot reach the MLflow tracking server at "
                                            rf"{uri}: Connection refused \(ECONNREFUSED\)"):
        check_reachable(uri)
    check_reachable("sqlite:///mlflow.db")  # not a server: nothing to check


def test_unreachable_server_is_one_line_and_no_run(tmp_path: Path, asset_cache: Path) -> None:
    uri = f"http://127.0.0.1:{closed_port()}"
    for sweep in ([], ["-m", "audio=1s,5s"]):
        done = run_cli(*sweep, *CHEAP, f"tracking.uri={uri}", f"paths.cache_dir={asset_cache}",
                       cwd=tmp_path, env={"MLFLOW_TRACKING_URI": "sqlite:///elsewhere.db"},
                       timeout=300)
        assert done.returncode != 0
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith(f"avbench: error: cannot reach the MLflow tracking server at "
                               f"{uri}: Connection refused"), line
        assert "Traceback" not in done.stdout
    # The command line won over MLFLOW_TRACKING_URI, and no folder is left behind.
    assert not (tmp_path / "elsewhere.db").exists()
    assert not (tmp_path / "outputs").exists(), list((tmp_path / "outputs").rglob("*"))


@pytest.mark.slow
def test_a_signal_is_not_held_by_a_silent_server(tmp_path: Path, asset_cache: Path,
                                                 silent_server: tuple[str, threading.Event]
                                                 ) -> None:
    uri, connected = silent_server
    process = start_cli(*CHEAP, f"tracking.uri={uri}", f"paths.cache_dir={asset_cache}",
                        cwd=tmp_path)
    try:
        assert connected.wait(timeout=300), "the run never contacted the server"
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    # Stopped by the signal, not by the check's own timeout (which would say "no answer").
    assert process.returncode == 143, stdout + stderr
    assert stderr.strip().splitlines() == ["avbench: interrupted by SIGTERM before a run "
                                           "started"]


def test_http_requests_are_bounded_unless_the_user_set_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.environment_variables import (
        MLFLOW_HTTP_REQUEST_MAX_RETRIES,
        MLFLOW_HTTP_REQUEST_TIMEOUT,
    )

    for key in HTTP_BOUNDS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")  # the user's own choice
    bound_requests()
    # What MLflow itself reads for each request (its defaults: 7 retries, 120 s).
    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 2
    assert MLFLOW_HTTP_REQUEST_TIMEOUT.get() == 60
    with failing_fast():  # a run being ended: one try, a short wait
        assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 0
        assert MLFLOW_HTTP_REQUEST_TIMEOUT.get() <= 5
    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 2  # and back to the bounds after
    assert MLFLOW_HTTP_REQUEST_TIMEOUT.get() == 60
