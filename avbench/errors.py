"""The user's-fault error: one line on the console, no traceback.

An error class says where it is defined that it is the user's to fix (bad input, a
missing package, a config that cannot run) by deriving from ``UserError``; the job runner
prints ``first_line(error)`` for it and ends the run FAILED without calling it a crash.
This module imports nothing of avbench, so every layer can use it.
"""

from __future__ import annotations


class UserError(Exception):
    """An error whose message is the whole story. ``exit_code`` (optional) is the
    process's exit status when this error ends a single run."""

    exit_code: int | None = None


def first_line(error: BaseException, limit: int | None = None) -> str:
    """The first non-empty line of the error's message (its repr when it has none)."""
    text = str(error).strip()
    line = text.splitlines()[0] if text else repr(error)
    return line[:limit] if limit else line
