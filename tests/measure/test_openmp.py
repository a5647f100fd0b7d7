"""The bound on OpenMP's idle spin: set before torch loads, never over a user's choice."""

from __future__ import annotations

import subprocess
import sys

from avbench.measure.openmp import (
    BOUNDED_SPIN,
    LIBGOMP_DEFAULT,
    bound_idle_spin,
    idle_spin_tags,
    openmp_environment,
)


def test_bounded_when_nothing_is_set_and_torch_is_not_loaded() -> None:
    environ: dict[str, str] = {}
    assert bound_idle_spin(environ, modules={}) == BOUNDED_SPIN
    assert environ == {"GOMP_SPINCOUNT": BOUNDED_SPIN}
    assert idle_spin_tags(environ) == {"threads.gomp_spincount": BOUNDED_SPIN,
                                       "threads.omp_wait_policy": "unset"}


def test_a_users_spin_or_wait_policy_is_kept() -> None:
    spin = {"GOMP_SPINCOUNT": "300000"}
    assert bound_idle_spin(spin, modules={}) == "300000" and spin == {"GOMP_SPINCOUNT": "300000"}
    passive = {"OMP_WAIT_POLICY": "PASSIVE"}
    assert bound_idle_spin(passive, modules={}) is None
    assert passive == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert idle_spin_tags(passive) == {"threads.gomp_spincount": LIBGOMP_DEFAULT,
                                       "threads.omp_wait_policy": "PASSIVE"}


def test_nothing_is_set_once_torch_has_loaded_openmp() -> None:
    environ: dict[str, str] = {}
    assert bound_idle_spin(environ, modules={"torch": object()}) is None
    assert environ == {}
    assert idle_spin_tags(environ)["threads.gomp_spincount"] == LIBGOMP_DEFAULT


def test_the_command_line_binds_before_torch_loads() -> None:
    # `python -m avbench` imports avbench.cli, whose main() bounds the spin before the task
    # imports torch; if importing the CLI loaded torch, the bound would be too late.
    code = ("import os, sys, avbench.cli; loaded = 'torch' in sys.modules; "
            "from avbench.measure.openmp import bound_idle_spin; "
            "print(loaded, bound_idle_spin(), os.environ['GOMP_SPINCOUNT'])")
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True)
    assert done.stdout.split() == ["False", BOUNDED_SPIN, BOUNDED_SPIN]


def test_environment_records_every_openmp_variable() -> None:
    assert set(openmp_environment()) == {"GOMP_SPINCOUNT", "OMP_WAIT_POLICY",
                                         "OMP_NUM_THREADS", "KMP_BLOCKTIME"}
