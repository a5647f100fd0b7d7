"""One OpenVINO ``Core`` per process, kept until the process exits.

OpenVINO's CPU plugin, when it is created, gives the creating thread a new alternate signal
stack (``sigaltstack``) and, when it is destroyed, puts back the stack it found and unmaps its
own. Two plugins destroyed in the order they were made (``Core`` A, then ``Core`` B, then A
freed before B) leave the thread's alternate stack pointing at unmapped memory; the next
signal with a Python handler (Python installs its handlers with ``SA_ONSTACK``) then kills
the process with SIGSEGV and no traceback. That happens in a process that builds several
OpenVINO models and lets Python free them in any order, as the test suite and a sweep in one
process do, and also with ONNX Runtime's OpenVINO provider, which brings its own plugin.
One ``Core`` created once and never freed makes every later plugin's setup and teardown
nest inside it (``tests/backends/test_openvino.py`` reproduces the crash with two cores).
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def openvino_core() -> Any:
    """The process's ``openvino.Core`` (imports openvino on first use)."""
    import openvino

    return openvino.Core()
