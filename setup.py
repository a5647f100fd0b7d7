"""Packages for the wheel: avbench, kernels_triton, and the top-level conf/ as avbench.conf.

Everything else is in pyproject.toml. The Hydra config tree lives at the top of the
repository (conf/); in an installed wheel it is the package avbench.conf, which
avbench.cli falls back to when it does not run from a source checkout. Every folder of
conf/ is declared as a package of its own (avbench.conf.task, avbench.conf.hydra.help...),
so setuptools finds each one in `packages` and the build prints no warning; conf/local/
(per-machine overrides, git-ignored) stays out of the wheel.
"""

from setuptools import find_namespace_packages, find_packages, setup

CONF = ["avbench.conf", *(f"avbench.conf.{name}" for name in
                          find_namespace_packages(where="conf", exclude=["local", "local.*"]))]

setup(
    packages=[*find_packages(include=["avbench", "avbench.*", "kernels_triton",
                                      "kernels_triton.*"]), *CONF],
    package_dir={"avbench.conf": "conf"},
    package_data={name: ["*.yaml"] for name in CONF},
)
