"""Save and load the state of several named model components in one file.

The file is ``torch.save({name: state_dict})``. Loading is strict per
component and uses ``weights_only=True``, so a checkpoint can never run code.
Published layouts are converted on load: an official HiFi-GAN generator file
(``{"generator": ...}`` with ``weight_g``/``weight_v``) loads into ``vocoder``.
"""

from __future__ import annotations

import os
import pickletools
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from avbench.errors import UserError, first_line
from avbench.models.pretrained import remove_stale_temps, temp_prefix

PICKLE_SCAN_BYTES = 64 * 2**20  # a pickle's objects come first; tensors' bytes come after


class CheckpointError(UserError, ValueError):
    """A checkpoint is missing, unreadable, or does not match the model."""


def save_checkpoint(path: str | os.PathLike[str], modules: Mapping[str, nn.Module]) -> None:
    """Write ``{name: module.state_dict()}`` to ``path`` atomically.

    The data goes to a temporary file in the same directory which then replaces
    ``path``, so readers see either the old file or the complete new one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    states = {name: module.state_dict() for name, module in modules.items()}
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=temp_prefix(target),
                                    suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(states, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _has_weight_norm(state: Mapping) -> bool:
    return any(".parametrizations.weight." in str(key) for key in state)


def _first_mismatch(name: str, expected: Mapping[str, torch.Tensor], found: Mapping) -> str | None:
    """One-line description of the first key or shape difference, or None."""
    hint = ""
    if _has_weight_norm(expected) != _has_weight_norm(found):
        hint = " (weight norm on one side only: load checkpoints before remove_weight_norm)"
    for key, tensor in expected.items():
        if key not in found:
            return f"component {name!r}: key {key!r} missing from checkpoint{hint}"
        value = found[key]
        if not isinstance(value, torch.Tensor):
            return f"component {name!r}: key {key!r} is not a tensor"
        if value.shape != tensor.shape:
            return (
                f"component {name!r}: key {key!r} has shape {tuple(value.shape)} in checkpoint, "
                f"{tuple(tensor.shape)} in model"
            )
    for key in found:
        if key not in expected:
            return f"component {name!r}: unexpected key {key!r} in checkpoint{hint}"
    return None


_RENAMES = ((".weight_g", ".parametrizations.weight.original0"),
            (".weight_v", ".parametrizations.weight.original1"))


def official_to_ours(checkpoint: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """Our state dict from an official checkpoint (``{"generator": ...}`` or the bare dict)."""
    state = checkpoint.get("generator", checkpoint)
    if not isinstance(state, Mapping):
        raise CheckpointError("HiFi-GAN checkpoint has no 'generator' state dict")
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for old, new in _RENAMES:
            if key.endswith(old):
                key = key[: -len(old)] + new
                break
        renamed[key] = value
    return renamed


def _from_official_layout(states: object) -> object:
    """``{"vocoder": ...}`` from an official HiFi-GAN generator checkpoint; else unchanged."""
    if isinstance(states, Mapping) and isinstance(states.get("generator"), Mapping) and any(
            str(key).endswith(".weight_v") for key in states["generator"]):
        return {"vocoder": official_to_ours(states)}
    return states


def _unreadable(source: Path, error: Exception) -> CheckpointError:
    """Why torch.load refused a file: a pickle holding more than tensors (objects or
    code), or no torch checkpoint at all (other bytes, or a damaged file)."""
    if _holds_pickle(source):
        return CheckpointError(
            f"cannot read checkpoint {source}: not a weights-only checkpoint (it holds "
            "Python objects or code that torch.load(weights_only=True) refuses to run); "
            "save state_dicts only, e.g. with avbench.models.save_checkpoint")
    detail = first_line(error, 160).split(". ")[0]  # torch's first sentence, when it says much
    said = ("" if isinstance(error, KeyError) or "Weights only load failed" in detail
            else f" ({detail})")
    return CheckpointError(
        f"cannot read checkpoint {source}: not a torch checkpoint, or a damaged one (neither "
        f"the zip archive torch.save writes nor a pickle){said}; write checkpoints with "
        "avbench.models.save_checkpoint")


def _holds_pickle(path: Path) -> bool:
    """The file is a pickle (or torch's zip archive around one) that reads to its end:
    scanned with pickletools, which never runs what it reads."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                inner = [n for n in archive.namelist() if n.endswith("data.pkl")]
                if not inner:
                    return False
                data = archive.read(inner[0])
        else:
            with path.open("rb") as handle:
                data = handle.read(PICKLE_SCAN_BYTES)
        for _ in pickletools.genops(data):
            pass
    except Exception:  # noqa: BLE001 (anything unreadable is not a pickle)
        return False
    return True


def load_checkpoint(path: str | os.PathLike[str], modules: Mapping[str, nn.Module]) -> list[str]:
    """Load each component of ``modules`` found in the checkpoint at ``path``.

    Components absent from the checkpoint keep their current weights; extra
    components in the file are ignored. Tensors are loaded on CPU and copied
    into each module's own device and dtype.

    Returns:
        Names of the components that were loaded, in ``modules`` order.

    Raises:
        CheckpointError: the file is missing or unreadable, or a component's
            keys or shapes differ from the module's (the first difference is named).
    """
    source = Path(path)
    if source.is_dir():
        raise CheckpointError(f"checkpoint {source} is a folder, not a file; give the "
                              "checkpoint file itself")
    if not source.is_file():
        raise CheckpointError(f"checkpoint not found: {source}")
    try:
        states = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for refused or corrupt files
        raise _unreadable(source, exc) from exc
    states = _from_official_layout(states)
    if not isinstance(states, Mapping) or not all(isinstance(v, Mapping) for v in states.values()):
        raise CheckpointError(
            f"checkpoint {source} is not a {{component: state_dict}} mapping; "
            "write it with avbench.models.save_checkpoint"
        )

    loaded = [name for name in modules if name in states]
    # Check every component before touching any, so a failure leaves no half-loaded model.
    for name in loaded:
        mismatch = _first_mismatch(name, modules[name].state_dict(), states[name])
        if mismatch is not None:
            raise CheckpointError(f"checkpoint {source}: {mismatch}")
    for name in loaded:
        modules[name].load_state_dict(states[name], strict=True)
    return loaded
