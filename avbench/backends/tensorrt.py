"""Native TensorRT: build an engine from an exported ONNX graph, and run it on a torch stream.

Written against the TensorRT 10.x and 11.x Python API. Precision is baked into the
graph (see ``export``), so the network is strongly typed: every tensor keeps the
type the graph gives it rather than TensorRT choosing precisions. 11.x only has
strongly typed networks; 10.x asks for one with a creation flag. ``tensorrt`` is
imported inside the functions that need it: this module imports without it.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import torch

from avbench.backends.base import Backend, Prepared
from avbench.backends.export import OUTPUT, Shape, cached_onnx, onnx_fields, profile_shapes
from avbench.pipelines.base import Component

PACKAGE_FIX = "pip install 'avbench[tensorrt]'"
MIN_MAJOR = 10
ALIGNMENT = 256  # bytes: what TensorRT requires of every tensor address it is given

# TensorRT DataType member -> torch dtype; members a release lacks are skipped.
_DTYPES = {
    "FLOAT": torch.float32,
    "HALF": torch.float16,
    "BF16": torch.bfloat16,
    "INT8": torch.int8,
    "UINT8": torch.uint8,
    "INT32": torch.int32,
    "INT64": torch.int64,
    "BOOL": torch.bool,
}


class BackendBuildError(RuntimeError):
    """TensorRT could not parse a graph or build (or load) an engine from it."""


def _tensorrt() -> Any:
    import tensorrt

    return tensorrt


@functools.cache
def _logger() -> Any:
    """The process's one TensorRT logger (warnings and errors go to stderr)."""
    trt = _tensorrt()
    return trt.Logger(trt.Logger.WARNING)


def trt_version() -> str | None:
    """``tensorrt.__version__``, or None when the package does not import."""
    try:
        return str(_tensorrt().__version__)
    except (ImportError, OSError):  # OSError: the wheel is there but its CUDA libraries are not
        return None


def unavailable_reason(device: torch.device) -> str | None:
    """None when native TensorRT can run on ``device``; else one line saying why and the fix."""
    device = torch.device(device)
    if device.type != "cuda":
        return (f"tensorrt needs a CUDA GPU; this run is on {device.type} — "
                "use backend=onnxruntime or backend=pytorch")
    try:
        version = str(_tensorrt().__version__)
    except (ImportError, OSError) as error:
        return f"the tensorrt package is not importable ({error}); {PACKAGE_FIX}"
    major = version.split(".")[0]
    if not major.isdigit() or int(major) < MIN_MAJOR:
        return f"tensorrt {version} is too old (need {MIN_MAJOR}.x or newer); {PACKAGE_FIX}"
    return None


def torch_dtype(trt_dtype: Any) -> torch.dtype:
    """The torch dtype of a ``tensorrt.DataType`` (float32/16, bfloat16, int8/32/64, bool)."""
    trt = _tensorrt()
    for member, dtype in _DTYPES.items():
        if getattr(trt.DataType, member, None) == trt_dtype:
            return dtype
    raise TypeError(f"no torch dtype for TensorRT {trt_dtype}")


def _network_flags(trt: Any) -> int:
    # 10.x still has weak typing (the FP16 builder flag): ask for a strongly typed network.
    # 11.x removed weak typing; STRONGLY_TYPED is deprecated there and ignored.
    if hasattr(trt.BuilderFlag, "FP16"):
        return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return 0


def builder_flags(dtype: torch.dtype, tf32: bool = False) -> dict[str, bool]:
    """``BuilderFlag`` name -> set (True) or cleared (False), for a graph of ``dtype``.

    TensorRT enables TF32 by default: float32 matmuls and convolutions then round their
    inputs to 10-bit mantissas, beyond the summation-order differences the fp32 parity
    thresholds allow. An fp32 graph is built without it unless ``tf32`` (precision.tf32).
    """
    return {"TF32": tf32} if dtype == torch.float32 else {}


def build_engine(onnx_path: str | Path, profiles: dict[str, tuple[Shape, Shape, Shape]],
                 workspace_mb: int = 1024, flags: dict[str, bool] | None = None) -> bytes:
    """Parse ``onnx_path`` into a strongly typed network and build the serialized engine.

    ``profiles`` maps input names to (min, opt, max) shapes; one optimisation profile
    is made from the inputs with a dynamic dimension (shapes of static inputs are
    accepted and not needed). ``flags`` (see :func:`builder_flags`) are set or cleared.
    """
    trt = _tensorrt()
    path = Path(onnx_path)
    builder = trt.Builder(_logger())
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, _logger())
    if not parser.parse(path.read_bytes(), str(path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendBuildError(f"TensorRT could not parse {path}: {errors or 'no error given'}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    for name, enabled in (flags or {}).items():
        if enabled:
            config.set_flag(getattr(trt.BuilderFlag, name))
        else:
            config.clear_flag(getattr(trt.BuilderFlag, name))
    profile = builder.create_optimization_profile()
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        if all(dim >= 0 for dim in tensor.shape):
            continue
        if tensor.name not in profiles:
            raise BackendBuildError(
                f"input {tensor.name!r} of {path.name} has dynamic shape {tuple(tensor.shape)} "
                f"but no (min, opt, max) shapes were given (got {sorted(profiles)})")
        try:
            profile.set_shape(tensor.name, *profiles[tensor.name])
        except (RuntimeError, TypeError) as error:
            raise BackendBuildError(f"bad profile for input {tensor.name!r}: {error}") from error
    if config.add_optimization_profile(profile) < 0:
        raise BackendBuildError(f"TensorRT rejected the optimisation profile {profiles}")

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendBuildError(f"TensorRT could not build an engine from {path} "
                                "(its log above says why)")
    return bytes(serialized)


def tensorrt_aligned(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` if its address is 256-byte aligned (TensorRT's requirement), else a copy
    that is (the CUDA caching allocator aligns every block to 512 bytes)."""
    if tensor.data_ptr() % ALIGNMENT == 0:
        return tensor
    copy = tensor.clone(memory_format=torch.contiguous_format)
    if copy.data_ptr() % ALIGNMENT:
        raise ValueError(f"no {ALIGNMENT}-byte aligned copy of a {tuple(tensor.shape)} "
                         f"{tensor.dtype} tensor on {tensor.device}")
    return copy


class TensorRTRunner:
    """Executes a deserialized engine on the current torch CUDA stream.

    Called like the module it replaces: positional inputs in the graph's input
    order, one output tensor. Nothing synchronises; the caller's CUDA events time it.
    The context's activation memory is a torch buffer (``USER_MANAGED``), sized for the
    current input shapes, so torch's allocator statistics (``memory_peak_mb``) count it.
    """

    def __init__(self, engine_bytes: bytes, device: torch.device) -> None:
        trt = _tensorrt()
        self.device = torch.device(device)
        with torch.cuda.device(self.device):
            self._runtime = trt.Runtime(_logger())  # must outlive the engine
            self._engine = self._runtime.deserialize_cuda_engine(engine_bytes)
            if self._engine is None:
                raise BackendBuildError(
                    "TensorRT could not load the engine (built by another TensorRT version "
                    "or for another GPU?); delete the cached engine to rebuild it")
            self._context = self._engine.create_execution_context(
                trt.ExecutionContextAllocationStrategy.USER_MANAGED)
        self._activations = torch.empty(0, dtype=torch.uint8, device=self.device)
        self._shapes: tuple[tuple[int, ...], ...] = ()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        modes = {name: self._engine.get_tensor_mode(name) for name in names}
        self.input_names = tuple(n for n in names if modes[n] == trt.TensorIOMode.INPUT)
        self.output_names = tuple(n for n in names if modes[n] == trt.TensorIOMode.OUTPUT)
        if OUTPUT not in self.output_names:
            raise BackendBuildError(f"engine has no output named {OUTPUT!r}: {self.output_names}")
        self.dtypes = {name: torch_dtype(self._engine.get_tensor_dtype(name)) for name in names}

    def _bind(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensorrt_aligned(tensor)
        if not self._context.set_tensor_address(name, tensor.data_ptr()):
            raise RuntimeError(f"TensorRT refused the address of tensor {name!r} "
                               "(see its log above)")
        return tensor

    def _size_activations(self, shapes: tuple[tuple[int, ...], ...]) -> None:
        """Give the context device memory for these input shapes (after they are set)."""
        if shapes == self._shapes:
            return
        size = int(self._context.update_device_memory_size_for_shapes())
        if size > self._activations.numel():
            # Freed memory returns to torch's cache for later work on this same stream.
            self._activations = tensorrt_aligned(
                torch.empty(size, dtype=torch.uint8, device=self.device))
            address = self._activations.data_ptr()
            if hasattr(self._context, "set_device_memory"):  # 10.1+: with its size
                self._context.set_device_memory(address, size)
            else:
                self._context.device_memory = address
        self._shapes = shapes

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        if len(inputs) != len(self.input_names):
            raise TypeError(f"engine takes {len(self.input_names)} inputs "
                            f"{self.input_names}, got {len(inputs)}")
        context = self._context
        kept = []  # the engine reads these by address: hold them until it is enqueued
        with torch.cuda.device(self.device):
            for name, tensor in zip(self.input_names, inputs, strict=True):
                tensor = tensor.to(self.device, self.dtypes[name]).contiguous()
                if not context.set_input_shape(name, tuple(tensor.shape)):
                    raise ValueError(f"input {name!r} shape {tuple(tensor.shape)} is outside "
                                     "the engine's optimisation profile")
                kept.append(self._bind(name, tensor))
            self._size_activations(tuple(tuple(t.shape) for t in kept))
            shape = tuple(context.get_tensor_shape(OUTPUT))
            if any(dim < 0 for dim in shape):
                raise RuntimeError(f"TensorRT could not infer the output shape ({shape})")
            output = self._bind(OUTPUT, torch.empty(shape, dtype=self.dtypes[OUTPUT],
                                                   device=self.device))
            # Enqueued on torch's stream: the caching allocator reuses the inputs'
            # memory only for work ordered after this on the same stream.
            stream = torch.cuda.current_stream(self.device).cuda_stream
            if not context.execute_async_v3(stream):
                raise RuntimeError("TensorRT failed to enqueue the engine (see its log above)")
        return output


def engine_fields(graph_fields: dict[str, Any], profiles: dict[str, Any],
                  device: torch.device, workspace_mb: int,
                  tensorrt: str | None = None) -> dict[str, Any]:
    """What makes a serialized engine valid: its graph, profile, TensorRT and the GPU.
    ``tensorrt``: the version of the library that builds it (default: the Python package)."""
    major, minor = torch.cuda.get_device_capability(device)
    return graph_fields | {"profiles": profiles, "tensorrt": tensorrt or trt_version(),
                          "gpu": torch.cuda.get_device_name(device),
                          "compute_capability": f"{major}.{minor}", "workspace_mb": workspace_mb}


class TensorRTBackend(Backend):
    name = "tensorrt"

    def unavailable_reason(self) -> str | None:
        return unavailable_reason(self.ctx.device)

    def prepare(self, component: Component) -> Prepared:
        opset = int(self.ctx.cfg.opset)
        graph_fields = onnx_fields(component, self.ctx.dtype, opset)  # hashes the weights once
        onnx_path, export_s, onnx_hit = cached_onnx(component, self.ctx.cache, graph_fields,
                                                    opset)
        profiles = profile_shapes(component, self.ctx.frames)
        workspace_mb = int(self.ctx.cfg.workspace_mb)
        flags = builder_flags(self.ctx.dtype, self.ctx.tf32)
        fields = engine_fields(graph_fields, profiles, self.ctx.device, workspace_mb) | {
            "builder_flags": flags}
        entry = self.ctx.cache.entry("tensorrt", component.name, fields, "model.engine")
        result = entry.get_or_build(lambda path: path.write_bytes(
            build_engine(onnx_path, profiles, workspace_mb, flags)))
        start = time.perf_counter()
        runner = TensorRTRunner(result.path.read_bytes(), self.ctx.device)
        return Prepared(run=runner, export_s=export_s, build_s=result.build_s,
                        load_s=time.perf_counter() - start, cache_hit=result.hit and onnx_hit,
                        tf32=flags.get("TF32", True))


BACKEND = TensorRTBackend
