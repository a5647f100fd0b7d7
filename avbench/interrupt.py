"""SIGTERM and SIGINT end the current run (and its sweep) KILLED, then the process exits.

The handler raises :class:`Interrupted` in the main thread, a ``BaseException`` so that no
``except Exception`` on the way swallows it: the task's ``finally`` ends the current run
KILLED with the signal as its error, the CLI ends the sweep's parent, prints one line and
exits with 128 + the signal number (143 for SIGTERM, 130 for SIGINT). A second signal
while the runs are being closed is ignored; SIGKILL still stops the process, and the runs
it leaves RUNNING are ended by the liveness check (avbench/tracking/liveness.py).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(BaseException):
    """The process received SIGTERM or SIGINT."""

    def __init__(self, signum: int) -> None:
        self.signal_name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {self.signal_name}")


_deferring = 0  # depth of `deferred()` sections on the main thread
_pending: int | None = None  # a signal received inside one


def install() -> None:
    """Raise :class:`Interrupted` on SIGTERM and SIGINT (main thread only)."""
    for signum in SIGNALS:
        signal.signal(signum, _raise)


def _raise(signum: int, frame: FrameType | None) -> None:
    global _pending
    for other in SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    if _deferring:
        _pending = signum
        return
    raise Interrupted(signum)


@contextmanager
def deferred() -> Iterator[None]:
    """A section a signal must not cut in half (a write to the tracking store: a write
    stopped midway can leave the database locked, and the run could then not be ended);
    a signal received inside it is raised when the outermost section ends."""
    global _deferring, _pending
    if threading.current_thread() is not threading.main_thread():
        yield  # the handler runs on the main thread: only its sections defer a signal
        return
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _pending is not None:
            signum, _pending = _pending, None
            raise Interrupted(signum)


def as_interrupted(error: BaseException) -> Interrupted:
    """A KeyboardInterrupt (Ctrl-C without the handler installed) as an ``Interrupted``."""
    return error if isinstance(error, Interrupted) else Interrupted(signal.SIGINT)
