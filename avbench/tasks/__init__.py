"""The tasks, one module each: ``task=<name>`` runs ``avbench.tasks.<name>``.

A task module defines ``run_name(cfg) -> str`` and ``execute(cfg, logger, out_dir, name) ->
metrics`` (raising a ``UserError`` on bad input); optionally ``TRACKED = False`` (no MLflow
run) and ``TASK_OPTIONS`` (the ``task.*`` keys it reads). ``avbench.runner`` runs it as
one tracked job. ``TASKS`` is the registry ``--help`` and the docs list.
"""

from __future__ import annotations

import importlib
import textwrap
from types import ModuleType

from avbench.runtime import ConfigError

TASKS: dict[str, str] = {
    "pipeline": "time every stage of a voice pipeline, check its output, log it (default)",
    "kernels": "micro-benchmark the DSP kernels (STFT, log-mel, F0) per implementation",
    "compare": "regression gate between two runs or sweeps: baseline=<id> candidate=<id> "
               "(exit 1 slower, 2 could not compare, 3 too unstable to tell)",
    "report": "markdown report with plots of a sweep (sweep.id=, default: the latest)",
    "doctor": "check the machine: devices, backends, store, timing noise",
    "serve": "serve the pipeline as an OpenAI-compatible speech endpoint on loopback",
    "data": "time a training-input pipeline: corpus, feature cache, loaders, train step",
}


def task_list(indent: int = 2, width: int = 88) -> str:
    """``TASKS`` as ``--help`` prints it: one task a line (wrapped under its description),
    the default first."""
    column = indent + max(map(len, TASKS)) + 2
    lines = []
    for name, description in TASKS.items():
        wrapped = textwrap.wrap(description, width - column) or [""]
        lines.append(" " * indent + f"{name:<{column - indent}}{wrapped[0]}")
        lines += [" " * column + more for more in wrapped[1:]]
    return "\n".join(lines)


def task_module(name: str) -> ModuleType:
    """The module of ``task=<name>``."""
    if name not in TASKS:
        raise ConfigError(f"task={name} does not exist; choose one of {', '.join(TASKS)}")
    return importlib.import_module(f"avbench.tasks.{name}")
