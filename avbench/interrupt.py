"""SIGTERM and SIGINT end the current run (and its sweep) KILLED, then the process exits.

The handler raises :class:`Interrupted` in the main thread, a ``BaseException`` so that no
``except Exception`` on the way swallows it: the task's ``finally`` ends the current run
KILLED with the signal as its error, the CLI ends the sweep's parent, prints one line and
exits with 128 + the signal number (143 for SIGTERM, 130 for SIGINT).

A signal is delivered until the code that ends the runs calls :func:`acknowledge`. Python
runs a signal handler between any two bytecodes of the main thread, including inside a
weakref callback or a ``__del__`` (SQLAlchemy's registry cleanup runs there during the
run's first store writes), where a raised exception is printed and dropped; such a dropped
``Interrupted`` is caught by :func:`sys.unraisablehook` and the signal is raised again.
Once acknowledged, further signals are ignored while the runs are closed; SIGKILL still
stops the process, and the runs it leaves RUNNING are ended by the liveness check
(avbench/tracking/liveness.py).

A launcher's worker process (loky, Ray, submitit) runs each job under :func:`handled`,
so a worker that gets the signal ends its own run KILLED; what a killed worker leaves
RUNNING its sweep's parent ends (avbench/sweeps/stop.py).
"""

from __future__ import annotations

import _thread
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)
REDELIVERY_DELAY_S = 0.01


class Interrupted(BaseException):
    """The process received SIGTERM or SIGINT."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {self.signal_name}")


_deferring = 0  # depth of `deferred()` sections on the main thread
_pending: int | None = None  # the first signal received, until acknowledged
_acknowledged = False  # the Interrupted reached the code that ends the runs


def install() -> None:
    """Raise :class:`Interrupted` on SIGTERM and SIGINT (main thread only)."""
    global _pending, _acknowledged
    _pending, _acknowledged = None, False
    for signum in SIGNALS:
        signal.signal(signum, _raise)
    if not getattr(sys.unraisablehook, "avbench_redelivers", False):
        sys.unraisablehook = _redelivering(sys.unraisablehook)


def installed() -> bool:
    return signal.getsignal(signal.SIGTERM) is _raise


@contextmanager
def handled() -> Iterator[bool]:
    """avbench's handler for the length of one job in a process whose handler the command
    line did not install (a launcher's worker: loky, Ray, submitit), restored afterwards;
    yields True when it installed it. A worker so signalled ends its run KILLED itself."""
    if installed() or threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    install()
    try:
        yield True
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def acknowledge() -> None:
    """The Interrupted reached the code that ends the runs: later signals are ignored."""
    global _acknowledged
    _acknowledged = True


def _raise(signum: int, frame: FrameType | None) -> None:
    global _pending
    if _acknowledged:
        return
    if _pending is None:
        _pending = signum
    if not _deferring:
        raise Interrupted(_pending)


def _redelivering(hook: Callable[[Any], None]) -> Callable[[Any], None]:
    """An unraisable hook that raises a dropped Interrupted's signal again, from another
    thread a moment later, so that the handler runs once the main thread has left the
    weakref callback or ``__del__`` that dropped it (called from the main thread itself,
    ``interrupt_main`` would run the handler inside this hook, which drops it again);
    other errors go to ``hook``."""

    def handle(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, Interrupted) and not _acknowledged:
            again = threading.Timer(REDELIVERY_DELAY_S, _thread.interrupt_main,
                                    args=(unraisable.exc_value.signum,))
            again.daemon = True
            again.start()
            return
        hook(unraisable)

    handle.avbench_redelivers = True  # type: ignore[attr-defined]
    return handle


@contextmanager
def deferred() -> Iterator[None]:
    """A section a signal must not cut in half (a write to the tracking store: a write
    stopped midway can leave the database locked, and the run could then not be ended);
    a signal received inside it is raised when the outermost section ends."""
    global _deferring
    if threading.current_thread() is not threading.main_thread():
        yield  # the handler runs on the main thread: only its sections defer a signal
        return
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _pending is not None and not _acknowledged:
            raise Interrupted(_pending)


def as_interrupted(error: BaseException) -> Interrupted:
    """A KeyboardInterrupt (Ctrl-C without the handler installed) as an ``Interrupted``."""
    return error if isinstance(error, Interrupted) else Interrupted(signal.SIGINT)
