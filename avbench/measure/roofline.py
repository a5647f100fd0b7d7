"""The machine's peaks and where each neural component sits under them (the roofline).

Peaks, measured once by ``task=doctor`` and cached per machine (``peaks.json``):

- GEMM GFLOP/s per precision through the libraries the backends use: PyTorch's matmul
  (fp32, bf16: what eager runs) and OpenVINO's CPU plugin (f32, bf16 hint, and an NNCF
  int8 MatMul: what backend=openvino runs). The peak of a precision is the best library.
- Memory bandwidth: a STREAM-style triad ``a = b + s * c`` on arrays far larger than the
  caches, counted as STREAM counts it (3 arrays moved per element).

Per component (``component_point``): FLOPs of one call on the run's input length
(``torch.utils.flop_counter.FlopCounterMode``: matmuls and convolutions, 2 per
multiply-add), bytes of weights plus activations in and out, arithmetic intensity = FLOPs
/ bytes, achieved GFLOP/s = FLOPs / the component's median time per run, and the share of
the roof min(peak, intensity x bandwidth) it reaches.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from avbench.openvino_core import openvino_core

log = logging.getLogger(__name__)

GEMM_N = 1024  # square GEMM side: large enough for the kernels' steady state, quick
TRIAD_ELEMENTS = 16 * 1024 * 1024  # 64 MiB per float32 array, far beyond the L3
PRECISIONS = ("fp32", "bf16", "int8")


@dataclass
class Peaks:
    """The machine's measured peaks: GFLOP/s (int8: GOP/s) per precision and library, and
    the triad bandwidth in GB/s."""

    gemm_gflops: dict[str, dict[str, float]]  # precision -> library -> GFLOP/s
    triad_gbs: float
    threads: int
    cpu: str
    measured_at: float

    def peak(self, precision: str) -> float | None:
        by_library = self.gemm_gflops.get(precision) or {}
        return max(by_library.values()) if by_library else None


def _best_seconds(fn: Callable[[], Any], min_time_s: float) -> float:
    """The fastest of repeated calls (peaks are what the machine can do, not its noise)."""
    fn()
    best, spent = float("inf"), 0.0
    while spent < min_time_s:
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        best, spent = min(best, elapsed), spent + elapsed
    return best


def torch_gemm_gflops(dtype: torch.dtype, n: int = GEMM_N, min_time_s: float = 0.5) -> float:
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    return 2 * n**3 / _best_seconds(lambda: torch.mm(a, b), min_time_s) / 1e9


def openvino_gemm_gflops(precision: str, n: int = GEMM_N, min_time_s: float = 0.5) -> float:
    """One n x n x n MatMul compiled by OpenVINO's CPU plugin: f32, bf16 (hint) or int8
    (quantised by NNCF on random calibration data)."""
    import openvino as ov

    linear = torch.nn.Linear(n, n, bias=False).eval()
    example = torch.randn(n, n)
    model = ov.convert_model(linear, example_input=example)
    hint = "bf16" if precision == "bf16" else "f32"
    if precision == "int8":
        import nncf

        model = nncf.quantize(model, nncf.Dataset([example.numpy()]), subset_size=1,
                              fast_bias_correction=True)
    compiled = openvino_core().compile_model(model, "CPU", {
        "INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": str(torch.get_num_threads()),
        "NUM_STREAMS": "1", "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    feed = [example.numpy()]
    return 2 * n**3 / _best_seconds(lambda: request.infer(feed), min_time_s) / 1e9


def int8_gemm_in_child(min_time_s: float) -> float:
    """The int8 MatMul's GOP/s, measured in a child process, as NNCF quantises for a run
    (avbench.backends.quantize): NNCF's imports and memory stay out of this process."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "avbench.measure.roofline", "int8",
                           str(min_time_s), str(torch.get_num_threads())],
                          capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the int8 GEMM peak could not be measured: {tail}")
    return float(done.stdout.strip().splitlines()[-1])


def triad_gbs(elements: int = TRIAD_ELEMENTS, min_time_s: float = 0.5) -> float:
    a, b, c = torch.empty(elements), torch.rand(elements), torch.rand(elements)
    return 3 * 4 * elements / _best_seconds(lambda: torch.add(b, c, alpha=3.0, out=a),
                                            min_time_s) / 1e9


def measure_peaks(min_time_s: float = 0.5) -> Peaks:
    """Every peak, on this process's thread count (OpenVINO's only when it is installed)."""
    gemm: dict[str, dict[str, float]] = {
        "fp32": {"torch": torch_gemm_gflops(torch.float32, min_time_s=min_time_s)},
        "bf16": {"torch": torch_gemm_gflops(torch.bfloat16, min_time_s=min_time_s)},
        "int8": {}}
    try:
        import openvino  # noqa: F401
    except ImportError:
        pass
    else:
        for precision in ("fp32", "bf16"):
            gemm[precision]["openvino"] = openvino_gemm_gflops(precision, min_time_s=min_time_s)
        gemm["int8"]["openvino"] = int8_gemm_in_child(min_time_s)
    return Peaks(gemm, triad_gbs(min_time_s=min_time_s), torch.get_num_threads(),
                 platform.processor() or platform.machine(), time.time())


def peaks_path(cache_dir: Path, threads: int) -> Path:
    return Path(cache_dir) / "peaks" / f"{_cpu_key()}-{threads}t.json"


def _cpu_key() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in
                     Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    return "".join(ch if ch.isalnum() else "_" for ch in model)[:60]


def save_peaks(peaks: Peaks, path: Path) -> None:
    """Atomic write (temporary file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(peaks), handle, indent=1)
    os.replace(tmp, path)


def load_peaks(path: Path) -> Peaks | None:
    try:
        return Peaks(**json.loads(Path(path).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def count_flops(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> int:
    """FLOPs of one call (FlopCounterMode: 2 per multiply-add of matmuls and convolutions)."""
    return counted_call(module, inputs)[0]


def counted_call(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[int, Any]:
    """(FLOPs of one call, its output): counted on the meta device, where nothing is computed
    (a real call of an emulated-bf16 vocoder takes minutes); on the real device only when an
    op of the module has no meta kernel. The output then has shapes and dtypes, no data."""
    from torch.utils.flop_counter import FlopCounterMode

    for call in (_meta_call, _real_call):
        try:
            with torch.inference_mode(), FlopCounterMode(display=False) as counter:
                output = call(module, inputs)
            return int(counter.get_total_flops()), output
        except (RuntimeError, NotImplementedError) as error:
            if call is _real_call:
                raise
            log.debug("FLOPs of %s counted on a real call: %s", type(module).__name__, error)
    raise AssertionError("unreachable")


def _meta_call(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> Any:
    state = {name: t.to("meta") for name, t in
             [*module.named_parameters(), *module.named_buffers()]}
    meta_inputs = tuple(x.to("meta") if isinstance(x, torch.Tensor) else x for x in inputs)
    return torch.func.functional_call(module, state, meta_inputs)


def _real_call(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> Any:
    return module(*inputs)


def tensor_bytes(tensors: Any) -> int:
    if isinstance(tensors, torch.Tensor):
        return tensors.numel() * tensors.element_size()
    return sum(tensor_bytes(t) for t in tensors)


@dataclass
class RooflinePoint:
    flops: int
    weight_bytes: int
    activation_bytes: int
    achieved_gflops: float
    intensity: float  # FLOPs per byte
    roof_gflops: float | None  # min(peak, intensity x bandwidth)
    peak_gflops: float | None

    @property
    def pct_of_roof(self) -> float | None:
        return 100 * self.achieved_gflops / self.roof_gflops if self.roof_gflops else None

    @property
    def pct_of_peak(self) -> float | None:
        return 100 * self.achieved_gflops / self.peak_gflops if self.peak_gflops else None


def component_point(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...],
                    ms_per_call: float, peak_gflops: float | None,
                    bandwidth_gbs: float | None, weight_bytes: int | None = None) -> RooflinePoint:
    """Where one call of ``module`` on ``inputs``, taking ``ms_per_call``, sits on the roofline;
    ``weight_bytes`` overrides the module's own (e.g. an int8 graph's)."""
    flops, output = counted_call(module, inputs)
    weights = (tensor_bytes(list(module.parameters()) + list(module.buffers()))
               if weight_bytes is None else weight_bytes)
    activations = tensor_bytes(inputs) + tensor_bytes(output)
    intensity = flops / max(1, weights + activations)
    achieved = flops / (ms_per_call / 1e3) / 1e9 if ms_per_call > 0 else 0.0
    roof = (min(peak_gflops, intensity * bandwidth_gbs) if peak_gflops and bandwidth_gbs
            else peak_gflops)
    return RooflinePoint(flops, weights, activations, achieved, intensity, roof, peak_gflops)


if __name__ == "__main__":  # the child of int8_gemm_in_child: int8 MIN_TIME_S THREADS
    import sys

    torch.set_num_threads(int(sys.argv[3]))
    print(openvino_gemm_gflops(sys.argv[1], min_time_s=float(sys.argv[2])))
