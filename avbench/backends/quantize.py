"""Post-training int8 quantisation with NNCF, cached like an engine.

NNCF inserts int8 fake-quantise layers into the OpenVINO model from the statistics of the
component's calibration inputs (``calibration_set``); OpenVINO's CPU plugin then runs those
convolutions and matmuls in int8 (VNNI). The quantised model (OpenVINO IR, ``model.xml`` +
``model.bin``) is a cache folder keyed by the float graph's SHA-256, the calibration set's
digest, the settings below and the NNCF and OpenVINO versions: written, then sealed by a
manifest (avbench.backends.cache), so a reader sees a whole entry or builds it again.

A component whose output a quality measure of the gate reads (the vocoder's waveform: log-mel
distance) is *held* to it: NNCF's accuracy control (``quantize_with_accuracy_control``)
quantises, measures the int8 model against the float one on held-out calibration calls, and
returns layers to float32, the costliest first, until the distance is within
``precision.hold_margin`` of the gate's limit. Plain NNCF int8 loses HiFi-GAN V1 1.6-2.8 dB
log-mel against a 1.0 dB gate (docs/backends.md); held, 0.66 dB.

NNCF runs in a child process (``python -m avbench.backends.quantize``): it is a build step
like an engine build, so NNCF's imports, its calibration graphs and their memory stay out of
the process that measures (its peak memory is a figure the run reports).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
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


# The accuracy control's validation: this many calibration calls, each cut to ``Hold.frames``
# (one audio second: every evaluation of a candidate model runs them all).
VALIDATION_CALLS = 3
# NNCF works on "higher is better" metrics and divides by the float model's: the metric is
# OFFSET_DB less the distance, so the float model scores OFFSET_DB.
OFFSET_DB = 10.0
F32 = {"INFERENCE_PRECISION_HINT": "f32"}
# One ranking worker: NNCF's default sizes a pool of them by the model, and on a small
# machine parallel workers, each compiling candidate graphs on every core, only contend.
# Not in the cache key: workers share out the same evaluations, the result is the same.
RESTORER = {"ranking_subset_size": VALIDATION_CALLS, "num_ranking_workers": 1}


@dataclass(frozen=True)
class Hold:
    """Hold a component's int8 output to the float output: the log-mel distance the gate's
    ``field`` reads (avbench.metrics.fidelity) at most ``max_drop_db``, measured on calls cut
    to ``frames`` frames of a component whose output is a waveform at ``sample_rate``."""

    field: str
    sample_rate: int
    max_drop_db: float
    frames: int


def int8_fields(graph_path: str, name: str, calibration_digest: str,
                hold: Hold | None = None) -> dict[str, Any]:
    from importlib.metadata import version

    import openvino

    return {"component": name, "graph_sha256": file_digest(Path(graph_path)),
            "calibration_sha256": calibration_digest, "settings": SETTINGS,
            "hold": asdict(hold) if hold else None,
            "nncf": version("nncf"), "openvino": openvino.get_version()}


def as_numpy(x: torch.Tensor) -> np.ndarray:
    """A float32 (or integer) numpy view of a CPU tensor, as OpenVINO takes it."""
    x = x.detach()
    if x.is_floating_point() and x.dtype != torch.float32:
        x = x.float()
    return x.contiguous().numpy()


def quantise(model: Any, calls: list[tuple[torch.Tensor, ...]], target: Path,
             hold: Hold | None = None) -> None:
    """Write to ``target`` (an IR ``.xml``) the NNCF-quantised copy of ``model`` calibrated
    on ``calls`` (and held by ``hold``), in a child process (see the module's docstring)."""
    import openvino

    with tempfile.TemporaryDirectory(prefix="avbench-int8-") as work:
        source, feeds = Path(work) / "float.xml", Path(work) / "calls.npz"
        openvino.save_model(model, source, compress_to_fp16=False)
        arrays = {f"{i}_{j}": as_numpy(x) for i, call in enumerate(calls)
                  for j, x in enumerate(call)}
        np.savez(feeds, **arrays)
        done = subprocess.run([sys.executable, "-m", "avbench.backends.quantize", str(source),
                               str(feeds), str(target), json.dumps(asdict(hold) if hold else None)],
                              capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"NNCF could not quantise the model (exit {done.returncode}): {tail}")


def _quantise_here(source: str, feeds_path: str, target: str, hold_json: str) -> None:
    """The child process: read the float IR and the calls, quantise, write the int8 IR."""
    import nncf
    import openvino
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    from avbench.openvino_core import openvino_core

    with np.load(feeds_path) as stored:
        calls: dict[int, dict[int, np.ndarray]] = {}
        for key in stored.files:
            i, j = (int(part) for part in key.split("_"))
            calls.setdefault(i, {})[j] = stored[key]
    feeds = [[call[j] for j in sorted(call)] for _, call in sorted(calls.items())]
    core = openvino_core()
    model = core.read_model(source)
    options = {"preset": nncf.QuantizationPreset.MIXED, "subset_size": len(feeds),
               "fast_bias_correction": True}
    hold_fields = json.loads(hold_json)
    if not hold_fields:
        quantised = nncf.quantize(model, nncf.Dataset(feeds), **options)
    else:
        hold = Hold(**hold_fields)
        validation = validation_calls(feeds, hold.frames)
        quantised = nncf.quantize_with_accuracy_control(
            model, nncf.Dataset(feeds), nncf.Dataset(validation),
            held_metric(core.compile_model(model, "CPU", F32), hold),
            max_drop=hold.max_drop_db, drop_type=nncf.DropType.ABSOLUTE,
            advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(**RESTORER),
            **options)
    openvino.save_model(quantised, target, compress_to_fp16=False)


def validation_calls(feeds: list[list[np.ndarray]], frames: int) -> list[list[np.ndarray]]:
    """``VALIDATION_CALLS`` calls spread over the calibration set, each cut to ``frames``."""
    step = max(1, len(feeds) // VALIDATION_CALLS)
    return [[np.ascontiguousarray(x[..., :frames]) for x in call]
            for call in feeds[::step][:VALIDATION_CALLS]]


def held_metric(float_model: Any, hold: Hold) -> Any:
    """NNCF's validation function: ``OFFSET_DB`` less the mean log-mel distance of a candidate
    model's outputs from ``float_model``'s, with the per-call values NNCF ranks layers by.
    ``float_model`` is compiled as NNCF compiles each candidate (float32 inference
    precision), so the float model itself is at distance 0: the plugin's default compile
    differs from it by ~0.05 dB log-mel."""
    from avbench.metrics.fidelity import log_mel_distance_db

    references: dict[int, torch.Tensor] = {}  # by the call's first array: NNCF passes them as is

    def reference(call: list[np.ndarray]) -> torch.Tensor:
        if id(call[0]) not in references:
            references[id(call[0])] = torch.from_numpy(float_model(call)[0]).reshape(1, -1)
        return references[id(call[0])]

    def metric(candidate: Any, calls: Any) -> tuple[float, list[float]]:
        per_call = [OFFSET_DB - log_mel_distance_db(
            torch.from_numpy(candidate(call)[0]).reshape(1, -1), reference(call),
            hold.sample_rate) for call in calls]
        return float(np.mean(per_call)), per_call

    return metric


def cached_int8(core: Any, model: Any, graph_path: str, name: str,
                calls: list[tuple[torch.Tensor, ...]], ctx: Any) -> tuple[Any, bool]:
    """(the int8 model, whether it came from the cache)."""
    hold = ctx.holds.get(name)
    folder = ctx.cache.folder("openvino-int8", name,
                              int8_fields(graph_path, name, ctx.calibration.digest, hold))
    with folder.fill() as hit:
        if not hit:
            log.info("quantising %s to int8 with NNCF on %d calibration calls (cached after "
                     "this)%s", name, len(calls),
                     f"; held to {hold.field} log-mel distance <= {hold.max_drop_db:g} dB by "
                     "NNCF's accuracy control, which can take many minutes" if hold else "")
            quantise(model, calls, folder.dir / "model.xml", hold)
    return core.read_model(folder.dir / "model.xml"), hit


if __name__ == "__main__":
    _quantise_here(*sys.argv[1:5])
