"""Post-training int8 quantisation with NNCF, cached like an engine.

NNCF inserts int8 fake-quantise layers into the OpenVINO model from the statistics of the
component's calibration inputs (``calibration_set``); OpenVINO's CPU plugin then runs those
convolutions and matmuls in int8 (VNNI). The quantised model (OpenVINO IR, ``model.xml`` +
``model.bin``) is a cache folder keyed by the float graph's SHA-256, the calibration set's
digest, the settings below and the NNCF and OpenVINO versions: written, then sealed by a
manifest (avbench.backends.cache), so a reader sees a whole entry or builds it again.
"""

from __future__ import annotations

import logging
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
    import nncf
    import openvino

    return {"component": name, "graph_sha256": file_digest(Path(graph_path)),
            "calibration_sha256": calibration_digest, "settings": SETTINGS,
            "nncf": nncf.__version__, "openvino": openvino.get_version()}


def as_numpy(x: torch.Tensor) -> np.ndarray:
    """A float32 (or integer) numpy view of a CPU tensor, as OpenVINO takes it."""
    x = x.detach()
    if x.is_floating_point() and x.dtype != torch.float32:
        x = x.float()
    return x.contiguous().numpy()


def quantise(model: Any, calls: list[tuple[torch.Tensor, ...]]) -> Any:
    """The NNCF-quantised copy of ``model`` calibrated on ``calls``."""
    import nncf

    feeds = [[as_numpy(x) for x in call] for call in calls]
    return nncf.quantize(model, nncf.Dataset(feeds), preset=nncf.QuantizationPreset.MIXED,
                         subset_size=len(feeds), fast_bias_correction=True)


def cached_int8(core: Any, model: Any, graph_path: str, name: str,
                calls: list[tuple[torch.Tensor, ...]], ctx: Any) -> tuple[Any, bool]:
    """(the int8 model, whether it came from the cache)."""
    import openvino

    folder = ctx.cache.folder("openvino-int8", name,
                              int8_fields(graph_path, name, ctx.calibration.digest))
    with folder.fill() as hit:
        if not hit:
            log.info("quantising %s to int8 with NNCF on %d calibration calls (cached after "
                     "this)", name, len(calls))
            openvino.save_model(quantise(model, calls), folder.dir / "model.xml",
                                compress_to_fp16=False)
    return core.read_model(folder.dir / "model.xml"), hit
