"""A launcher that is not installed is one line naming what to install, not Hydra's listing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from avbench.install_hints import PLUGINS, missing_plugin
from tests.conftest import run_cli

# The module each launcher's Hydra plugin installs, to find one this environment lacks.
LAUNCHER_MODULES = {"ray": "hydra_plugins.hydra_ray_launcher",
                    "submitit_slurm": "hydra_plugins.hydra_submitit_launcher",
                    "rq": "hydra_plugins.hydra_rq_launcher"}


def absent_launcher() -> str | None:
    for option, module in LAUNCHER_MODULES.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # hydra_plugins itself may be absent
            found = False
        if not found:
            return option
    return None


def test_a_launcher_not_installed_is_one_line_naming_its_install(tmp_path: Path) -> None:
    launcher = absent_launcher()
    if launcher is None:
        pytest.skip("every launcher avbench knows is installed here: none to miss")
    done = run_cli("-m", f"hydra/launcher={launcher}", "tracking=none", "debug=default",
                   cwd=tmp_path, timeout=120)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"avbench: error: hydra/launcher={launcher} is not installed: pip install "
        f"'{PLUGINS['hydra/launcher'][launcher]}' (installed: basic, joblib)"]
    assert not (tmp_path / "multirun").exists()  # nothing ran


def test_an_unknown_launcher_keeps_hydras_listing(tmp_path: Path) -> None:
    """A typo is not a missing install: Hydra's message names the options there are."""
    done = run_cli("hydra/launcher=jobilb", "tracking=none", cwd=tmp_path, timeout=120)
    assert done.returncode == 1
    assert "Could not find 'hydra/launcher/jobilb'" in done.stderr
    assert "pip install" not in done.stderr and "\tjoblib" in done.stderr


def test_only_a_missing_plugin_config_gets_a_hint() -> None:
    from hydra.errors import MissingConfigException

    sweeper = MissingConfigException("Could not find", "hydra/sweeper/optuna", ["basic"])
    assert missing_plugin(sweeper) == ("hydra/sweeper=optuna is not installed: "
                                       "pip install 'hydra-optuna-sweeper' (installed: basic)")
    assert missing_plugin(MissingConfigException("x", "backend/ray", ["pytorch"])) is None
    assert missing_plugin(ValueError("hydra/launcher/ray")) is None
