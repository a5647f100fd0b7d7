"""Run the app with uvicorn: in the foreground (task=serve) or in a background thread on
loopback for the length of a run (scenario=http without a url).

The listening socket is bound here, before uvicorn starts, so a port in use is one clear
error (``ConfigError``) instead of uvicorn's log and exit code 3, and a background server
on port 0 gets a free port without a race.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from typing import Any

from avbench.runtime import ConfigError
from avbench.serve.stream import DropIncomplete


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: any free port); ConfigError if it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise ConfigError(f"serve.port={port}: {host}:{port} is already in use (another "
                              "server is listening there); stop it or choose another port "
                              f"(serve.port={port + 1})") from None
        raise ConfigError(f"cannot listen on {host}:{port} (serve.host, serve.port): "
                          f"{error.strerror or error}") from None
    sock.set_inheritable(True)
    return sock


def _server(app: Any, log_level: str) -> Any:
    import uvicorn

    logging.getLogger("uvicorn.error").addFilter(DropIncomplete())
    return uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False))


class BackgroundServer:
    """``with BackgroundServer(app) as url:`` serves ``app`` on a free loopback port."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0,
                 start_timeout_s: float = 30.0) -> None:
        self.sock = listen(host, port)
        self.host, self.port = host, int(self.sock.getsockname()[1])
        self.server = _server(app, "warning")
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)
        self.start_timeout_s = start_timeout_s

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.sock.close()
                raise RuntimeError(f"the speech server did not start on {self.url}")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def serve_forever(app: Any, sock: socket.socket) -> None:
    """Serve ``app`` on the bound ``sock`` until interrupted."""
    try:
        _server(app, "info").run(sockets=[sock])
    finally:
        sock.close()
