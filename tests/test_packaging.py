"""The built wheel's metadata: ONNX Runtime only from the cpu or the gpu extra, never both
by default, and a TensorRT for torch's CUDA major in the gpu extra; the pytest plugin's entry
point; and a build without warnings."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
ORT_BUILDS = {"onnxruntime", "onnxruntime-openvino", "onnxruntime-gpu"}
LINUX_X86 = default_environment() | {"sys_platform": "linux", "platform_machine": "x86_64"}


@pytest.fixture(scope="module")
def requirements(tmp_path_factory: pytest.TempPathFactory) -> list[Requirement]:
    out, source = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("source")
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources.
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("avbench", "kernels_triton", "conf"):
        shutil.copytree(ROOT / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__", "local"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-w", str(out), str(source)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    # Every package is declared (conf/'s folders too): setuptools has nothing to warn about.
    assert not re.findall(r"\w+Warning: .*", build.stdout + build.stderr)
    (wheel,) = out.glob("avbench-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode())
        entry_points = archive.read(name.replace("METADATA", "entry_points.txt")).decode()
    # pytest loads the plugin of a project that only pip-installs avbench.
    assert "[pytest11]\navbench = avbench.pytest_plugin" in entry_points
    assert {"cpu", "gpu", "tensorrt", "dev"} <= set(metadata.get_all("Provides-Extra"))
    return [Requirement(line) for line in metadata.get_all("Requires-Dist")]


def installed_with(requirements: list[Requirement], extras: set[str],
                   env: dict[str, str]) -> set[str]:
    """Names pip installs for ``pip install avbench[extras]`` on a machine like ``env``."""
    names = set()
    for req in requirements:
        wanted = req.marker is None or any(req.marker.evaluate(env | {"extra": extra})
                                           for extra in extras | {""})
        if wanted:
            names.add(req.name.lower())
    return names


@pytest.mark.slow
def test_wheel_metadata_keeps_onnxruntime_builds_apart(requirements) -> None:
    base = installed_with(requirements, set(), LINUX_X86)
    assert not base & ORT_BUILDS  # the plain install has none: no build to uninstall later
    assert "torch" in base and "nvidia-ml-py" in base
    cpu = installed_with(requirements, {"cpu"}, LINUX_X86)
    assert cpu & ORT_BUILDS == {"onnxruntime-openvino"}
    gpu = installed_with(requirements, {"gpu"}, LINUX_X86)
    assert gpu & ORT_BUILDS == {"onnxruntime-gpu"}
    assert "tensorrt-cu13" in gpu  # torch's default wheels are CUDA 13 builds
    mac = default_environment() | {"sys_platform": "darwin", "platform_machine": "arm64"}
    assert installed_with(requirements, {"cpu"}, mac) & ORT_BUILDS == {"onnxruntime"}
    assert not installed_with(requirements, {"gpu"}, mac) & (ORT_BUILDS | {"tensorrt-cu13"})
    ort_gpu = next(r for r in requirements if r.name == "onnxruntime-gpu")
    assert ort_gpu.specifier.contains("1.31.1") and not ort_gpu.specifier.contains("1.26.0")
    # onnxruntime-gpu 1.31.1's TensorRT provider links libnvinfer.so.10: TensorRT 10, not 11.
    trt = next(r for r in requirements if r.name == "tensorrt-cu13")
    assert trt.specifier.contains("10.16.1.11") and not trt.specifier.contains("11.4.0.106")
