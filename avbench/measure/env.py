"""Environment fingerprint: hardware, library versions and git state of a run."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
import torch

from avbench.measure.openmp import openmp_environment

PACKAGES = ("torch", "torchaudio", "triton", "onnxruntime", "tensorrt", "mlflow",
            "hydra-core", "numpy", "avbench")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def gpus() -> list[dict[str, Any]]:
    if not torch.cuda.is_available():
        return []
    found = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        found.append({"name": props.name, "memory_gb": round(props.total_memory / 2**30, 2),
                      "compute_capability": f"{props.major}.{props.minor}"})
    return found


def nvidia_driver() -> str | None:
    """The NVIDIA driver version through NVML, or None without one."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no library, no driver: a CPU machine
        return None
    return version.decode() if isinstance(version, bytes) else str(version)


def git_state() -> dict[str, Any]:
    """Commit and dirty flag of the checkout avbench runs from, when it is one."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                                  text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    sha = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if sha else None
    return {"sha": sha, "dirty": bool(status) if status is not None else None}


def fingerprint() -> dict[str, Any]:
    """Everything needed to compare runs like with like."""
    gpu_list = gpus()
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_cores_logical": os.cpu_count(),
        "cpu_cores_physical": psutil.cpu_count(logical=False),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "torch_threads": torch.get_num_threads(),
        "openmp_env": openmp_environment(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        "gpus": gpu_list,
        "gpu_name": gpu_list[0]["name"] if gpu_list else None,
        "gpu_count": len(gpu_list),
        "nvidia_driver": nvidia_driver(),
        "versions": package_versions(),
        "git": git_state(),
    }
    hardware = "|".join([info["cpu_model"], str(info["cpu_cores_logical"]),
                         *[g["name"] for g in gpu_list]])
    info["hardware_key"] = hashlib.sha256(hardware.encode()).hexdigest()[:12]
    return info
