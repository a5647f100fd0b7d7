"""Room to end a run on a full disk: a small reserved file beside a SQLite store.

SQLite needs free space for any write, a run's status included (its rollback journal), so
a store whose disk filled during a run could not be told that the run ended: it stayed
RUNNING. A process that opens a SQLite store reserves ``RESERVE_BYTES`` in a file beside
the database (``.mlflow.db.reserve-<pid>``); when a write that ends a run fails because
the disk is full, the file is deleted and the write tried once more. The file goes when
the process exits; files of processes that are gone are removed by the next one to open
the store. On a disk too full to reserve anything, nothing is reserved.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from pathlib import Path

import psutil

RESERVE_BYTES = 2**20  # a few journal pages suffice: room for a run's status and error

_held: dict[Path, Path] = {}  # database -> its reserve, in this process


def reserve_path(db: Path, pid: int) -> Path:
    return db.with_name(f".{db.name}.reserve-{pid}")


def hold(db: Path) -> None:
    """Reserve room beside ``db`` for this process (once per database)."""
    db = db.resolve()
    if db in _held:
        return
    _remove_stale(db)
    path = reserve_path(db, os.getpid())
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
        finally:
            os.close(fd)
    except (OSError, AttributeError):  # full, read-only, or no posix_fallocate here
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        return
    if not _held:
        atexit.register(release_all)
    _held[db] = path


def release(db: Path) -> bool:
    """Free this process's reserve beside ``db``; False when there was none."""
    path = _held.pop(db.resolve(), None)
    if path is None:
        return False
    with contextlib.suppress(OSError):
        path.unlink()
    return True


def release_all() -> None:
    for db in list(_held):
        release(db)


def _remove_stale(db: Path) -> None:
    """Reserves left by processes that ended without removing theirs (SIGKILL)."""
    for path in db.parent.glob(f".{db.name}.reserve-*"):
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            with contextlib.suppress(OSError):
                path.unlink()
