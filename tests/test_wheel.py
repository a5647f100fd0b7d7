"""A built wheel, installed into a fresh venv, runs `python -m avbench` from its own conf.

The venv reuses this environment's installed dependencies (torch is not downloaded again):
a .pth file puts their site-packages on its path, without their .pth files, so the
editable install of the source tree stays out and `avbench` comes from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO

# Without PYTHONPATH: a source tree on it would make pip think avbench is installed already.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONUNBUFFERED": "1"}
GENERATED = ("*.egg-info", "build", "dist", ".venv", "outputs", "multirun", "*.db", "__pycache__",
             ".git", ".pytest_cache", ".ruff_cache")


def build_wheel(out: Path) -> Path:
    """Build from a copy of the source (a build writes build/ and *.egg-info beside it)."""
    source = out.parent / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*GENERATED))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(out), str(source)], check=True, capture_output=True,
                   text=True, env=ENV)
    (wheel,) = out.glob("avbench-*.whl")
    return wheel


def fresh_venv(root: Path, wheel: Path) -> Path:
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; "
                           "print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "--no-index", "--quiet", str(wheel)],
                   check=True, capture_output=True, text=True, env=ENV)
    return python


@pytest.mark.slow
def test_wheel_ships_conf_and_runs_from_a_fresh_venv(tmp_path: Path, mlflow_store: str,
                                                    asset_cache: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.removeprefix("avbench/conf/") for n in names
               if n.startswith("avbench/conf/") and n.endswith(".yaml")}
    assert shipped == {str(p.relative_to(REPO / "conf"))
                       for p in (REPO / "conf").rglob("*.yaml") if "local" not in p.parts}
    assert "avbench/api.py" in names and "kernels_triton/stft.py" in names

    python = fresh_venv(tmp_path / "venv", wheel)
    where = subprocess.run([str(python), "-c", "import avbench.cli as c; "
                            "print(c.__file__, c.config_path())"],
                           cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert where.returncode == 0, where.stderr[-3000:]
    module_file, conf = where.stdout.split()
    assert module_file.startswith(str(tmp_path / "venv")) and conf == "pkg://avbench.conf"
    # pytest finds the plugin through the wheel's entry point, with no -p or conftest.
    plugin = subprocess.run([str(python), "-m", "pytest", "--help"], cwd=tmp_path, env=ENV,
                            capture_output=True, text=True)
    assert "--avbench-save=NAME" in plugin.stdout, plugin.stderr[-3000:]
    done = subprocess.run([str(python), "-m", "avbench", "debug=default",
                           f"paths.cache_dir={asset_cache}", f"hydra.run.dir={tmp_path / 'out'}"],
                          cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(tracking_uri=mlflow_store)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FINISHED" and run.data.metrics["rtf"] > 0
