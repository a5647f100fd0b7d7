"""Post-training int8 quantisation with NNCF, cached like an engine.

NNCF inserts int8 fake-quantise layers into the OpenVINO model from the statistics of the
component's calibration inputs (``calibration_set``); OpenVINO's CPU plugin then runs those
convolutions and matmuls in int8 (VNNI). The quantised model (OpenVINO IR, ``model.xml`` +
``model.bin``) is a cache folder keyed by the float graph's SHA-256, the calibration set's
digest, the settings below and the NNCF and OpenVINO versions: written, then sealed by a
manifest (avbench.backends.cache), so a reader sees a whole entry or builds it again.

NNCF runs in a child process (``python -m avbench.backends.quantize``): it is a build step
like an engine build, so NNCF's imports, its calibration graphs and their memory stay out of
the process that measures (its peak memory is a figure the run reports).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avbench.backends.cache import file_digest

log = logging.getLogger(__name__)

# Symmetric weights, asymmetric activations (NNCF's "mixed" preset: a spectrogram magnitude
# and a ReLU's output are never negative, so a symmetric range would waste half the codes);
# bias correction; every calibration call is used.
SETTINGS = {"preset": "mixed", "fast_bias_correction": True, "model_type": None}


def int8_fields(graph_path: str, name: str, calibration_digest: str) -> dict[str, Any]:
    from importlib.metadata import version

    import openvino

    return {"component": name, "graph_sha256": file_digest(Path(graph_path)),
            "calibration_sha256": calibration_digest, "settings": SETTINGS,
            "nncf": version("nncf"), "openvino": openvino.get_version()}


def as_numpy(x: torch.Tensor) -> np.ndarray:
    """A float32 (or integer) numpy view of a CPU tensor, as OpenVINO takes it."""
    x = x.detach()
    if x.is_floating_point() and x.dtype != torch.float32:
        x = x.float()
    return x.contiguous().numpy()


def quantise(model: Any, calls: list[tuple[torch.Tensor, ...]], target: Path) -> None:
    """Write to ``target`` (an IR ``.xml``) the NNCF-quantised copy of ``model`` calibrated
    on ``calls``, in a child process (see the module's docstring)."""
    import openvino

    with tempfile.TemporaryDirectory(prefix="avbench-int8-") as work:
        source, feeds = Path(work) / "float.xml", Path(work) / "calls.npz"
        openvino.save_model(model, source, compress_to_fp16=False)
        arrays = {f"{i}_{j}": as_numpy(x) for i, call in enumerate(calls)
                  for j, x in enumerate(call)}
        np.savez(feeds, **arrays)
        done = subprocess.run([sys.executable, "-m", "avbench.backends.quantize", str(source),
                               str(feeds), str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"NNCF could not quantise the model (exit {done.returncode}): {tail}")


def _quantise_here(source: str, feeds_path: str, target: str) -> None:
    """The child process: read the float IR and the calls, quantise, write the int8 IR."""
    import nncf
    import openvino

    with np.load(feeds_path) as stored:
        calls: dict[int, dict[int, np.ndarray]] = {}
        for key in stored.files:
            i, j = (int(part) for part in key.split("_"))
            calls.setdefault(i, {})[j] = stored[key]
    feeds = [[call[j] for j in sorted(call)] for _, call in sorted(calls.items())]
    model = openvino.Core().read_model(source)
    quantised = nncf.quantize(model, nncf.Dataset(feeds), preset=nncf.QuantizationPreset.MIXED,
                              subset_size=len(feeds), fast_bias_correction=True)
    openvino.save_model(quantised, target, compress_to_fp16=False)


def cached_int8(core: Any, model: Any, graph_path: str, name: str,
                calls: list[tuple[torch.Tensor, ...]], ctx: Any) -> tuple[Any, bool]:
    """(the int8 model, whether it came from the cache)."""

    folder = ctx.cache.folder("openvino-int8", name,
                              int8_fields(graph_path, name, ctx.calibration.digest))
    with folder.fill() as hit:
        if not hit:
            log.info("quantising %s to int8 with NNCF on %d calibration calls (cached after "
                     "this)", name, len(calls))
            quantise(model, calls, folder.dir / "model.xml")
    return core.read_model(folder.dir / "model.xml"), hit


if __name__ == "__main__":
    _quantise_here(*sys.argv[1:4])
