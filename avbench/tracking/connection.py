"""Reaching the tracking store: a bounded check before a run starts, bounded HTTP retries
during it, and one line for the failures a user can fix.

MLflow retries an HTTP request up to 7 times with exponential back-off and waits up to
120 s for each (its ``MLFLOW_HTTP_REQUEST_*`` variables), so an unreachable server held a
run for minutes. A process that opens a store sets tighter bounds, unless the environment
already sets them: ``HTTP_BOUNDS`` below. Before a run opens, a server URI is checked with
one request of at most ``CHECK_TIMEOUT_S``; a server that does not answer is one line
naming the URI. While a run is being ended after a signal or a store failure, requests are
tried once with a short timeout (``failing_fast``), so ending never waits on back-off.
"""

from __future__ import annotations

import errno
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from avbench.errors import UserError, first_line, os_error_in, os_error_line

CHECK_TIMEOUT_S = 5.0
HTTP_BOUNDS = {  # at most 3 tries, 1 s + 2 s of back-off, 20 s per try
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}
CLOSING_BOUNDS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                  "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"}
QUIET = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}  # no download bars on the console
DISK_FULL = "database or disk is full"  # SQLite's SQLITE_FULL
# What MLflow's requests say when a server went away (after their retries).
LOST_SERVER = ("Max retries exceeded", "Failed to establish a new connection",
               "Read timed out", "Connection aborted")


class TrackingError(UserError, RuntimeError):
    """The tracking store cannot be reached or written."""


def is_remote(uri: str | None) -> bool:
    return bool(uri) and urlsplit(str(uri)).scheme in ("http", "https")


def bound_requests() -> None:
    """MLflow's HTTP retries and timeout bounded, and its progress bars off, for this
    process (values already in the environment are kept)."""
    for key, value in (HTTP_BOUNDS | QUIET).items():
        os.environ.setdefault(key, value)


@contextmanager
def failing_fast() -> Iterator[None]:
    """Inside, every request to the store is tried once, with a short timeout: a run is
    being ended (after a signal or a store failure) and must not wait on back-off."""
    saved = {key: os.environ.get(key) for key in CLOSING_BOUNDS}
    os.environ.update(CLOSING_BOUNDS)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def check_reachable(uri: str | None) -> None:
    """A tracking server must answer one request within CHECK_TIMEOUT_S (any HTTP status
    counts: an authenticating proxy answers too); other stores are not checked here."""
    if not is_remote(uri):
        return
    try:
        with urllib.request.urlopen(f"{str(uri).rstrip('/')}/health", timeout=CHECK_TIMEOUT_S):
            return
    except urllib.error.HTTPError:
        return  # it answered
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise TrackingError(f"cannot reach the MLflow tracking server at {uri}: "
                            f"{_unreachable(error)}; start it, fix tracking.uri (or "
                            "MLFLOW_TRACKING_URI), or use tracking=none") from None


def _unreachable(error: BaseException) -> str:
    cause = getattr(error, "reason", error)
    if isinstance(cause, TimeoutError):
        return f"no answer within {CHECK_TIMEOUT_S:g} s"
    if isinstance(cause, OSError) and cause.strerror:
        return os_error_line(cause)
    return str(cause)


def sqlite_path(uri: str | None) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other stores)."""
    if not uri or not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").removeprefix("file:").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def is_disk_full(error: BaseException) -> bool:
    found = os_error_in(error)
    if found is not None and found.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return _in_chain(error, DISK_FULL)


def is_read_only_error(error: BaseException) -> bool:
    """SQLite's "attempt to write a readonly database", anywhere in the cause chain."""
    return _in_chain(error, "readonly database") or _in_chain(error, "read-only file system")


def _in_chain(error: BaseException, words: str) -> bool:
    current: BaseException | None = error
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if words in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def store_failure(error: BaseException, uri: str | None) -> str | None:
    """One line for a store write that failed for a reason the user can fix (a full or
    read-only disk, a permission), else None."""
    if is_disk_full(error):
        found = os_error_in(error)
        where = (os_error_line(found) if found is not None else
                 f"{sqlite_path(uri) or uri}: No space left on device (ENOSPC: {DISK_FULL})")
        return f"the MLflow store cannot be written: {where}; free space on that disk"
    if is_read_only_error(error):
        return f"the MLflow store {uri} is read-only"
    found = os_error_in(error)
    if found is not None and found.errno in (errno.EPERM, errno.EACCES, errno.EROFS):
        return f"the MLflow store cannot be written: {os_error_line(found)}"
    if is_remote(uri) and (isinstance(found, ConnectionError) or any(
            _in_chain(error, words) for words in LOST_SERVER)):
        return (f"the MLflow tracking server at {uri} stopped answering "
                f"({first_line(found or error, 160)}); the run could not be recorded")
    return None
