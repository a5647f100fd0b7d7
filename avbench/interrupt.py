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
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(BaseException):
    """The process received SIGTERM or SIGINT."""

    def __init__(self, signum: int) -> None:
        self.signal_name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {self.signal_name}")


def install() -> None:
    """Raise :class:`Interrupted` on SIGTERM and SIGINT (main thread only)."""
    for signum in SIGNALS:
        signal.signal(signum, _raise)


def _raise(signum: int, frame: FrameType | None) -> None:
    for other in SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    raise Interrupted(signum)


def as_interrupted(error: BaseException) -> Interrupted:
    """A KeyboardInterrupt (Ctrl-C without the handler installed) as an ``Interrupted``."""
    return error if isinstance(error, Interrupted) else Interrupted(signal.SIGINT)
