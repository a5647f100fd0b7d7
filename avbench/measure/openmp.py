"""How long PyTorch's idle OpenMP workers spin: bounded before PyTorch loads OpenMP.

After each parallel region, libgomp (PyTorch's OpenMP on Linux) keeps its workers spinning
for ``GOMP_SPINCOUNT`` iterations before they sleep. The default when the variable is unset
is 300,000, which measured 8.2 ms of CPU time per idle period on the development VM.
That spinning costs eager PyTorch nothing. It costs a pipeline that hands the cores to
another thread pool between PyTorch ops, for example ONNX Runtime and OpenVINO (TBB) or
TensorRT's host code: for the first milliseconds of each call, a spinning PyTorch worker
holds a core. Measured on 2 cores, right after a torch op, OpenVINO's content encoder took
5.8 ms where it takes 3.8 ms after idle.

At ``GOMP_SPINCOUNT=10000`` workers spin 0.35 ms. That still covers the gaps between
eager ops: in a fast-preset run, the median gap is 9.5 us and 2 of 688 gaps exceed 0.35 ms.
libgomp reads the variable once, when it loads, so the command line sets it before the
first ``import torch``. A value the user set, or an ``OMP_WAIT_POLICY``, is kept.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from typing import Any

SPIN_VAR = "GOMP_SPINCOUNT"
WAIT_POLICY_VAR = "OMP_WAIT_POLICY"
BOUNDED_SPIN = "10000"
LIBGOMP_DEFAULT = "libgomp default (300000)"
# What the OpenMP runtimes read at load time; recorded with every run.
RECORDED_VARS = (SPIN_VAR, WAIT_POLICY_VAR, "OMP_NUM_THREADS", "KMP_BLOCKTIME")


def bound_idle_spin(environ: MutableMapping[str, str] | None = None,
                    modules: Any = None) -> str | None:
    """Set ``GOMP_SPINCOUNT`` unless the user chose a spin or wait policy; returns it.

    When torch is already imported, libgomp has read its environment, so nothing is set
    (a value set now would be recorded but not in force).
    """
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if SPIN_VAR in environ or WAIT_POLICY_VAR in environ:
        return environ.get(SPIN_VAR)
    if "torch" in modules:
        return None
    environ[SPIN_VAR] = BOUNDED_SPIN
    return BOUNDED_SPIN


def idle_spin_tags(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """The spin in force, as run tags (``threads.gomp_spincount``, ``threads.omp_wait_policy``)."""
    environ = os.environ if environ is None else environ
    return {"threads.gomp_spincount": environ.get(SPIN_VAR, LIBGOMP_DEFAULT),
            "threads.omp_wait_policy": environ.get(WAIT_POLICY_VAR, "unset")}


def openmp_environment() -> dict[str, str | None]:
    """The OpenMP variables of this process, for ``environment.json``."""
    return {var: os.environ.get(var) for var in RECORDED_VARS}
