"""OpenVINO's own runtime on the CPU: the exported graph, compiled with a precision hint.

Each component is exported once to ONNX in float32 (cached, as for ONNX Runtime), read by
``openvino.Core`` and compiled for the CPU with ``INFERENCE_PRECISION_HINT`` from the run's
precision (f32, bf16 where the CPU has AVX512-BF16 or AMX, f16), the run's thread count, one
stream and the latency hint. OpenVINO's CPU plugin is fastest on static shapes, so a
component is compiled once per input shape it meets (the first call at a new length pays
the compile, as ``cold.first_call_s`` does). With ``precision=int8`` each component with
real weights is quantised after training by NNCF on its calibration set
(``calibration_set``: the pipeline's own inputs on songs that are never the evaluation
input) and the quantised model is cached like an engine (keyed by the graph, the
calibration set's digest and the library versions); a component that cannot be quantised
runs in f32 and says why (``backend.precision.<component>``). What ran is read back from
the compiled model's runtime graph: ``backend.execution.<component>``.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch

from avbench.backends.base import Backend, Prepared
from avbench.backends.execution import openvino_kernels
from avbench.backends.export import cached_onnx, onnx_fields
from avbench.backends.quantize import as_numpy, cached_int8
from avbench.openvino_core import openvino_core
from avbench.pipelines.base import Component

HINTS = {torch.float32: "f32", torch.bfloat16: "bf16", torch.float16: "f16"}


def openvino_version() -> str | None:
    try:
        import openvino
    except ImportError:
        return None
    return str(openvino.get_version())


class OpenVINOBackend(Backend):
    name = "openvino"

    def unavailable_reason(self) -> str | None:
        if self.ctx.device.type != "cpu":
            return "backend=openvino runs on the CPU here; use gpu=cpu, or another backend"
        if openvino_version() is None:
            return "OpenVINO is not installed: pip install -e '.[cpu]'"
        if self.ctx.quantize not in (None, "int8"):
            return f"precision quantize={self.ctx.quantize} is not one of int8"
        return None

    def prepare(self, component: Component) -> Prepared:
        fp32 = float32_component(component)
        opset = int(self.ctx.cfg.opset)
        path, export_s, hit = cached_onnx(fp32, self.ctx.cache, onnx_fields(
            fp32, torch.float32, opset), opset)
        start = time.perf_counter()
        model, quantised_hit, precision = self._model(openvino_core(), fp32, path)
        build_s = time.perf_counter() - start
        runner = ShapeCompiled(model, self._config(), self.ctx.dtype)
        probe = component.example_inputs(max(16, self.ctx.frames.min))
        runner(*probe)  # compile once now: what ran is read from the compiled model
        return Prepared(run=runner, export_s=export_s, build_s=build_s,
                        cache_hit=hit and quantised_hit is not False,
                        providers=(f"OpenVINO {openvino_version()} CPU",),
                        execution=openvino_kernels(runner.last),
                        precision=compiled_precision(runner.last, precision))

    def _config(self) -> dict[str, str]:
        # int8 graphs keep their fake-quantised layers in int8 whatever the hint; the rest
        # of such a graph runs in f32.
        hint = "f32" if self.ctx.quantize else HINTS.get(self.ctx.dtype, "f32")
        return {"INFERENCE_PRECISION_HINT": hint,
                "INFERENCE_NUM_THREADS": str(torch.get_num_threads()),
                "NUM_STREAMS": "1", "PERFORMANCE_HINT": "LATENCY"}

    def _model(self, core: Any, component: Component, path: str
               ) -> tuple[Any, bool | None, str]:
        """(the model to compile, whether the quantised one came from the cache, the
        precision this component runs in)."""
        model = core.read_model(path)
        hint = self._config()["INFERENCE_PRECISION_HINT"]
        if not self.ctx.quantize:
            return model, None, hint
        calibration = (self.ctx.calibration.inputs.get(component.name)
                       if self.ctx.calibration else None)
        if component.name not in self.ctx.quantizable:
            return model, None, "f32 (seeded weights: not quantised)"
        if component.name in self.ctx.keep_float:
            return model, None, "f32 (precision.keep_float: not quantised)"
        if not calibration:
            return model, None, "f32 (no calibration set for this pipeline's input)"
        quantised, hit = cached_int8(core, model, path, component.name, calibration,
                                     self.ctx)
        return quantised, hit, "int8"


def float32_component(component: Component) -> Component:
    """The component with a float32 copy of its module and float32 example inputs (what is
    exported; OpenVINO's precision hint decides the arithmetic)."""
    if next(component.module.parameters(), torch.empty(0)).dtype == torch.float32:
        return component
    module = copy.deepcopy(component.module).float()

    def example_inputs(frames: int) -> tuple[torch.Tensor, ...]:
        return tuple(x.float() if x.is_floating_point() else x
                     for x in component.example_inputs(frames))

    return Component(component.name, module, example_inputs, component.input_names)


def compiled_precision(compiled: Any, requested: str) -> str:
    """The precision the compiled model runs in: a hint the CPU lacks (bf16 without
    AVX512-BF16 or AMX) is silently compiled in f32 by OpenVINO; say so instead."""
    if requested not in ("bf16", "f16"):
        return requested
    actual = str(compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())
    if actual == requested:
        return requested
    return f"{actual} (this CPU has no {requested}: OpenVINO compiled the hint as {actual})"


class ShapeCompiled:
    """Calls an OpenVINO model compiled for each input shape it meets (static shapes are the
    CPU plugin's fast path); inputs and outputs are torch tensors in the run's dtype."""

    def __init__(self, model: Any, config: dict[str, str], dtype: torch.dtype) -> None:
        self.core, self.model, self.config, self.dtype = openvino_core(), model, config, dtype
        self.requests: dict[tuple[tuple[int, ...], ...], Any] = {}
        self.last: Any = None  # the most recent compiled model

    def _request(self, shapes: tuple[tuple[int, ...], ...]) -> Any:
        if shapes not in self.requests:
            model = self.model.clone()
            model.reshape({port.any_name: list(shape)
                           for port, shape in zip(model.inputs, shapes, strict=True)})
            self.last = self.core.compile_model(model, "CPU", self.config)
            self.requests[shapes] = self.last.create_infer_request()
        return self.requests[shapes]

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        arrays = [as_numpy(x) for x in inputs]
        request = self._request(tuple(a.shape for a in arrays))
        # share_inputs=False: the request copies the inputs, so it never holds the caller's
        # temporaries after infer() returns.
        request.infer(arrays, share_inputs=False)
        output = torch.from_numpy(np.array(request.get_output_tensor(0).data))
        return output if self.dtype == torch.float32 else output.to(self.dtype)


BACKEND = OpenVINOBackend
