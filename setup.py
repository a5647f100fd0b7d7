"""Packages for the wheel: avbench, kernels_triton, and the top-level conf/ as avbench.conf.

Everything else is in pyproject.toml. The Hydra config tree lives at the top of the
repository (conf/); in an installed wheel it is the package avbench.conf, which
avbench.cli falls back to when it does not run from a source checkout.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["avbench", "avbench.*", "kernels_triton",
                                      "kernels_triton.*"]), "avbench.conf"],
    package_dir={"avbench.conf": "conf"},
    package_data={"avbench.conf": ["*.yaml", "**/*.yaml"]},
)
