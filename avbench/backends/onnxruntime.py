"""ONNX Runtime: each component exported once (cached), run by an InferenceSession.

Providers come from ``backend.providers`` in priority order, keeping those
this onnxruntime build has and the device can use (CPU runs use OpenVINO's
CPU plugin where the build has it, then the CPU provider). The providers
each session actually registered are recorded. On CUDA, inputs and outputs stay on
the GPU through I/O binding, ONNX Runtime runs on PyTorch's current stream (never the
default one) without synchronising after each call, so the stage clock's CUDA events
time it; see ``ort_gpu`` for those options.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avbench.backends.base import Backend, Prepared
from avbench.backends.export import Shape, cached_onnx, onnx_fields, profile_shapes
from avbench.backends.ort_gpu import (
    check_compute_stream,
    compute_stream,
    cuda_ep_precision,
    ort_conflict,
    ort_distributions,
    ort_tensorrt_version,
    run_options,
    tensorrt_ep_profile,
)
from avbench.backends.ort_registered import check_registered, session_tf32
from avbench.backends.tensorrt import BackendBuildError
from avbench.pipelines.base import Component

CPU = "CPUExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
OPENVINO = "OpenVINOExecutionProvider"  # runs on the CPU (device_type CPU)
ON_CPU = (OPENVINO, CPU)
GPU_FIX = ("pip uninstall -y onnxruntime-openvino onnxruntime && pip install -e '.[gpu]' "
           "(see docs/gpu.md)")


def ort_version() -> str | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    return str(onnxruntime.__version__)


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def unavailable_reason(self) -> str | None:
        if ort_version() is None:
            return ("ONNX Runtime is not installed: pip install -e '.[cpu]' (or '.[gpu]' on "
                    "a CUDA machine, docs/gpu.md)")
        if conflict := ort_conflict(ort_distributions()):
            return conflict
        if self.ctx.dtype == torch.bfloat16 and not self.openvino_bf16():
            # No bfloat16 kernels for these models on the CPU provider, and no bfloat16
            # element type in the Python I/O binding that keeps CUDA tensors on the GPU.
            return ("onnxruntime cannot run these models in bfloat16 here (on the CPU it needs "
                    "the OpenVINO provider: pip install -e '.[cpu]'); use precision=fp32 or "
                    "fp16, or backend=pytorch/compile/openvino/tensorrt for bf16")
        if self.ctx.device.type == "cuda" and (missing := dlpack_missing()):
            return missing
        if not self.providers():
            import onnxruntime

            return (f"none of backend.providers={list(self.ctx.cfg.providers)} can run on "
                    f"{self.ctx.device} with this onnxruntime (it has "
                    f"{onnxruntime.get_available_providers()}): {GPU_FIX}")
        return None

    def providers(self) -> list[str]:
        """Configured providers this build has, in priority order, usable on the device."""
        import onnxruntime

        available = set(onnxruntime.get_available_providers())
        wanted = [p for p in self.ctx.cfg.providers if p in available]
        if self.ctx.device.type == "cpu":
            return [p for p in wanted if p in ON_CPU]
        return wanted if any(p not in ON_CPU for p in wanted) else []

    def openvino_bf16(self) -> bool:
        """bfloat16 on the CPU through the OpenVINO provider: a float32 graph compiled with
        OpenVINO's bf16 inference precision hint (the CPU provider has no bf16 kernels)."""
        import onnxruntime

        return (self.ctx.device.type == "cpu" and self.ctx.dtype == torch.bfloat16
                and OPENVINO in self.ctx.cfg.providers
                and OPENVINO in onnxruntime.get_available_providers())

    def prepare(self, component: Component) -> Prepared:
        if self.openvino_bf16():
            return self._prepare_openvino_bf16(component)
        opset = int(self.ctx.cfg.opset)
        fields = onnx_fields(component, self.ctx.dtype, opset)
        path, export_s, hit = cached_onnx(component, self.ctx.cache, fields, opset)
        # The TensorRT provider writes its own engines: into a folder of our cache that is
        # sealed once they are built, and emptied (so rebuilt) when a sealed file changed.
        profiles = (profile_shapes(component, self.ctx.frames)
                    if TENSORRT in self.providers() else None)
        engines = (self.ctx.cache.folder("ort-tensorrt", component.name,
                                         self._engine_fields(fields, profiles), additive=True)
                   if profiles else None)
        with engines.fill() if engines else contextlib.nullcontext(True) as engines_hit:
            start = time.perf_counter()
            session = self._session(path, component, profiles, engines.dir if engines else None)
            session_s = time.perf_counter() - start
            runner = (CpuRunner(session) if self.ctx.device.type == "cpu"
                      else BoundRunner(session, self.ctx.device))
            # With explicit profiles the provider builds its engines inside InferenceSession:
            # on a miss that time is the build, on a hit it is the load.
            build_s = 0.0 if engines_hit else session_s + self._build_late(
                runner, component, engines.dir)
        providers = tuple(session.get_providers())
        # fp32 on CUDA: as the session reports it (the TensorRT provider cannot clear TF32).
        tf32 = (session_tf32(providers, session.get_provider_options())
                if self.ctx.device.type == "cuda" and self.ctx.dtype == torch.float32 else None)
        return Prepared(run=runner, export_s=export_s, build_s=build_s,
                        load_s=session_s if engines_hit else 0.0,
                        cache_hit=hit and engines_hit, providers=providers, tf32=tf32)

    def _prepare_openvino_bf16(self, component: Component) -> Prepared:
        from avbench.backends.openvino import float32_component

        fp32 = float32_component(component)
        opset = int(self.ctx.cfg.opset)
        path, export_s, hit = cached_onnx(fp32, self.ctx.cache,
                                          onnx_fields(fp32, torch.float32, opset), opset)
        start = time.perf_counter()
        session = self._session(path, component, None, None)
        providers = tuple(session.get_providers())
        precision = ("bf16 (OpenVINO provider's hint; ONNX Runtime does not expose what ran)"
                     if OPENVINO in providers else "f32 (the OpenVINO provider did not load)")
        return Prepared(run=CpuRunner(session, self.ctx.dtype), export_s=export_s,
                        load_s=time.perf_counter() - start, cache_hit=hit,
                        providers=providers, precision=precision)

    def _session(self, path: Path, component: Component, profiles: Any,
                 engine_dir: Path | None) -> Any:
        import onnxruntime

        requested = self._provider_options(profiles, engine_dir)
        try:
            # enable_fallback=0: a failing session is an error here, not a silent retry on
            # other providers without any of the options (ort_registered checks the rest).
            session = onnxruntime.InferenceSession(path, self._session_options(),
                                                   providers=requested, enable_fallback=0)
        except Exception as error:
            if engine_dir is None:
                raise
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            raise BackendBuildError(
                f"ONNX Runtime's TensorRT provider could not build {component.name} ({first}); "
                "if TensorRT's libraries did not load, python -m avbench task=doctor says why; "
                "when it takes only part of a graph, the inner subgraphs' dynamic inputs have "
                "no shape profile: use backend.providers=[CUDAExecutionProvider] or "
                "backend=tensorrt") from error
        check_registered(session, requested, component.name)
        return session

    def _session_options(self) -> Any:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The same thread count as PyTorch (bench.threads), so the backends compare fairly.
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # ONNX Runtime's pool spins after each call by default; between calls the pipeline's
        # torch ops need those cores, so spinning workers slow both down (measured: +2x).
        options.add_session_config_entry("session.intra_op.allow_spinning",
                                         "1" if self.ctx.cfg.ort_spinning else "0")
        return options

    def _engine_fields(self, graph_fields: dict[str, Any],
                       profiles: dict[str, tuple[Shape, Shape, Shape]]) -> dict[str, Any]:
        from avbench.backends.tensorrt import engine_fields

        # Keyed on the TensorRT ONNX Runtime loads, not the Python package's.
        return engine_fields(graph_fields, profiles, self.ctx.device, workspace_mb=0,
                             tensorrt=ort_tensorrt_version()) | {"onnxruntime": ort_version()}

    def _build_late(self, runner: Any, component: Component, engine_dir: Path) -> float:
        """One call at the profile's opt length before the folder is sealed; its seconds
        count as build time only when the provider wrote engines during it."""
        before = {p for p in engine_dir.rglob("*") if p.is_file()}
        start = time.perf_counter()
        with torch.inference_mode():
            runner(*component.example_inputs(self.ctx.frames.opt))
        torch.cuda.synchronize(self.ctx.device)
        elapsed = time.perf_counter() - start
        return elapsed if {p for p in engine_dir.rglob("*") if p.is_file()} - before else 0.0

    def _provider_options(self, profiles: dict[str, tuple[Shape, Shape, Shape]] | None,
                          engine_dir: Path | None) -> list[Any]:
        # OpenVINO: the CPU plugin on the run's threads, in the graph's own precision,
        # compiled for the concrete input shape at the first call (measured: faster than its
        # dynamic-shape kernels; a run has one input length, so cold.first_call_s pays once).
        openvino = {"device_type": "CPU", "num_of_threads": str(torch.get_num_threads()),
                    "precision": "ACCURACY", "disable_dynamic_shapes": "True"}
        if self.ctx.device.type == "cpu":
            if self.openvino_bf16():  # the hint decides; ACCURACY would keep f32
                del openvino["precision"]
                openvino["load_config"] = json.dumps(
                    {"CPU": {"INFERENCE_PRECISION_HINT": "bf16"}})
            return [(p, openvino) if p == OPENVINO else p for p in self.providers()]
        options = gpu_provider_options(self.ctx.device.index or 0,
                                       compute_stream(self.ctx.device), self.ctx.dtype,
                                       profiles, engine_dir, self.ctx.tf32)
        return [(p, options[p]) if p in options else p for p in self.providers()]


def gpu_provider_options(device_index: int, stream: int, dtype: torch.dtype,
                         profiles: dict[str, tuple[Shape, Shape, Shape]] | None,
                         engine_dir: Path | None, tf32: bool = False,
                         ) -> dict[str, dict[str, str]]:
    """Options of the CUDA and TensorRT providers: torch's stream ``stream`` (checked),
    the precision options, and for TensorRT the explicit profile and the engine folder."""
    common = {"device_id": str(device_index), "has_user_compute_stream": "1",
              "user_compute_stream": str(check_compute_stream(stream))}
    options = {"CUDAExecutionProvider": common | cuda_ep_precision(dtype, tf32)}
    if profiles and engine_dir is not None:
        # Precision is baked into the graph; the profile is the native backend's.
        options[TENSORRT] = common | tensorrt_ep_profile(profiles) | {
            "trt_engine_cache_enable": "True", "trt_engine_cache_path": str(engine_dir)}
    return options


class CpuRunner:
    """Feeds torch CPU tensors as numpy views; wraps the output without a copy. A float32
    graph run for ``dtype`` bfloat16 (the OpenVINO provider's bf16 hint) takes and gives
    bfloat16 tensors, cast at its edges."""

    def __init__(self, session: Any, dtype: torch.dtype = torch.float32) -> None:
        self.session = session
        self.inputs = [i.name for i in session.get_inputs()]
        self.cast = dtype if dtype == torch.bfloat16 else None

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.cast is not None:
            inputs = tuple(x.float() if x.is_floating_point() else x for x in inputs)
        feeds = {name: x.detach().contiguous().numpy()
                 for name, x in zip(self.inputs, inputs, strict=True)}
        output = torch.from_numpy(self.session.run(None, feeds)[0])
        return output if self.cast is None else output.to(self.cast)


class BoundRunner:
    """Binds torch tensors by address (I/O binding) and hands the output back by DLPack.

    What CUDA runs use: nothing leaves the GPU. It works the same on the CPU (device
    "cpu"), where the tests exercise it.
    """

    def __init__(self, session: Any, device: torch.device) -> None:
        self.session = session
        self.device_type = device.type
        self.device_id = device.index or 0
        self.inputs = [i.name for i in session.get_inputs()]
        self.output = session.get_outputs()[0].name
        self.run_options = run_options()

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        binding = self.session.io_binding()
        held = [x.detach().contiguous() for x in inputs]  # alive until the run returns
        for name, x in zip(self.inputs, held, strict=True):
            binding.bind_input(name, self.device_type, self.device_id, _numpy_dtype(x.dtype),
                               tuple(x.shape), x.data_ptr())
        binding.bind_output(self.output, self.device_type, self.device_id)
        self.session.run_with_iobinding(binding, self.run_options)
        # The C-level OrtValue speaks DLPack (the Python wrapper that get_outputs() returns
        # does not, up to onnxruntime 1.24 at least); the tensor keeps ORT's buffer alive.
        return torch.from_dlpack(binding.get_outputs_as_ortvaluevector()[0])


def dlpack_missing() -> str | None:
    """Why this onnxruntime cannot hand outputs to torch without a copy, or None."""
    from onnxruntime.capi import _pybind_state

    if hasattr(_pybind_state.OrtValue, "__dlpack__"):
        return None
    return (f"onnxruntime {ort_version()} has no DLPack on OrtValue (needed to keep outputs "
            "on the GPU): pip install -U onnxruntime-gpu")


def _numpy_dtype(dtype: torch.dtype) -> Any:
    try:
        return _NUMPY_DTYPES[dtype]
    except KeyError:
        raise TypeError(f"onnxruntime I/O binding has no {dtype} input type") from None


_NUMPY_DTYPES = {torch.float32: np.float32, torch.float16: np.float16,
                 torch.int64: np.int64, torch.int32: np.int32}


BACKEND = OnnxRuntimeBackend
