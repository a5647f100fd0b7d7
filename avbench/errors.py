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


def os_error_line(error: OSError, path: object = None) -> str:
    """A filesystem failure in one line: the path, then the cause with its errno name
    (``/data/out.wav: No space left on device (ENOSPC)``). ``path`` stands in when the
    error names none."""
    import errno

    where = error.filename if error.filename is not None else path
    cause = error.strerror or first_line(error)
    code = errno.errorcode.get(error.errno or 0)
    text = f"{cause} ({code})" if code else cause
    return f"{where}: {text}" if where is not None else text


def os_error_in(error: BaseException) -> OSError | None:
    """The filesystem error (an OSError with an errno) behind ``error``, if any: itself or
    one in its chain of causes (MLflow and SQLAlchemy wrap them)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            return current
        current = current.__cause__ or current.__context__
    return None
