"""The backend interface, the report every run records, and ``prepare``.

A backend turns one component (module + example inputs + name) into a
callable of the same signature: ``Backend.prepare(component) -> Prepared``.
``prepare(pipeline, ...)`` applies the configured backend to every neural
component before timing starts. What cannot run is either one clear error
(``backend.strict=true``) or a recorded fallback to eager PyTorch for that
component (``strict=false``): never silent.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from avbench.backends.cache import ArtifactCache
from avbench.backends.calibration_set import CalibrationSet
from avbench.backends.quantize import Hold
from avbench.pipelines.base import Component, FrameRange, Pipeline
from avbench.runtime import ConfigError, resolve_cache_dir, tf32_allowed

log = logging.getLogger(__name__)

# backend name -> module defining ``BACKEND`` (a Backend subclass); imported lazily.
AVAILABLE = {
    "pytorch": "avbench.backends.pytorch",
    "compile": "avbench.backends.compile",
    "onnxruntime": "avbench.backends.onnxruntime",
    "tensorrt": "avbench.backends.tensorrt",
    "openvino": "avbench.backends.openvino",
}
QUANTISING = ("openvino",)  # backends that quantise (precision=int8); the others run f32


class BackendUnavailable(ConfigError):
    """The requested backend cannot run here (strict mode); the message names the fix."""


@dataclass
class BackendContext:
    """What every backend needs besides the component."""

    cfg: Any  # the backend config node
    device: torch.device
    dtype: torch.dtype
    cache: ArtifactCache
    frames: FrameRange  # min / opt / max frame counts of this run's input
    quantize: str | None = None  # precision=int8: "int8"
    calibration: CalibrationSet | None = None  # the components' inputs on calibration songs
    quantizable: frozenset[str] = frozenset()  # components with real weights
    tf32: bool = False  # precision.tf32: float32 math may use TF32 (CUDA)
    holds: Mapping[str, Hold] = field(default_factory=dict)  # int8 held to a quality measure
    keep_float: frozenset[str] = frozenset()  # precision.keep_float: not quantised


@dataclass
class Prepared:
    """A component's callable and what making it cost."""

    run: Callable[..., torch.Tensor]
    export_s: float = 0.0
    build_s: float = 0.0
    load_s: float = 0.0
    cache_hit: bool | None = None  # None: nothing cached (eager, compile)
    providers: tuple[str, ...] = ()
    tf32: bool | None = None  # whether float32 math may use TF32 (None: the backend's default)
    execution: str | None = None  # kernels and precision that ran, read from the library
    precision: str | None = None  # what the component computes in (int8, bf16, f32 (why))


EMULATED_BF16 = ("bf16 (emulated: this CPU has no AVX512-BF16 or AMX, so eager bf16 runs "
                 "far slower than fp32; try backend=openvino)")


def emulated_bf16(device: torch.device, dtype: torch.dtype) -> str | None:
    """The precision note for eager bfloat16 on a CPU without native bf16 (a 7x7 conv in
    bf16 took 77x its fp32 time on an AVX2-only EPYC), else None."""
    if device.type != "cpu" or dtype != torch.bfloat16 or native_bf16():
        return None
    return EMULATED_BF16


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU has bf16 arithmetic for oneDNN (warns once when it has not)."""
    native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if not native:
        log.warning("precision=bf16 on this CPU: %s", EMULATED_BF16)
    return native


class Backend:
    """Base class: eager PyTorch. Subclasses override ``unavailable_reason`` and ``prepare``."""

    name = "pytorch"

    def __init__(self, ctx: BackendContext) -> None:
        self.ctx = ctx

    def unavailable_reason(self) -> str | None:
        """None when this backend can run here; else why not and the fix, in one line."""
        return None

    def prepare(self, component: Component) -> Prepared:
        execution = None
        if self.ctx.device.type == "cpu":  # eager: oneDNN's kernels, read by its verbose mode
            from avbench.backends.execution import onednn_kernels

            execution = onednn_kernels(component.module, component.example_inputs(
                max(16, self.ctx.frames.min)))
        return Prepared(run=component.module, execution=execution, tf32=self.torch_tf32(),
                        precision=emulated_bf16(self.ctx.device, self.ctx.dtype))

    def after_run(self) -> dict[str, float]:
        """Figures about the run only known after it (read once the run has measured)."""
        return {}

    def torch_tf32(self) -> bool | None:
        """For a float32 run on CUDA, whether torch's settings in force let its float32
        math use TF32 (the run sets them from ``precision.tf32``); else None."""
        if self.ctx.device.type != "cuda" or self.ctx.dtype != torch.float32:
            return None
        return tf32_allowed()


@dataclass
class BackendReport:
    """What was asked for, what ran (per component where they differ), why, and the cost."""

    requested: str
    effective: dict[str, str] = field(default_factory=dict)
    fallback_reason: str | None = None
    export_s: float = 0.0
    build_s: float = 0.0
    load_s: float = 0.0
    cache: dict[str, bool] = field(default_factory=dict)  # component -> hit
    providers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tf32: dict[str, bool] = field(default_factory=dict)  # component -> TF32 allowed
    execution: dict[str, str] = field(default_factory=dict)  # component -> kernels that ran
    precision: dict[str, str] = field(default_factory=dict)  # component -> precision it ran in
    # The backend's figures known only after the run (torch.compile's compile.*).
    after_run: Callable[[], dict[str, float]] = field(default=dict, repr=False)

    def add(self, component: str, prepared: Prepared, kind: str) -> None:
        self.effective[component] = kind
        self.export_s += prepared.export_s
        self.build_s += prepared.build_s
        self.load_s += prepared.load_s
        if prepared.cache_hit is not None:
            self.cache[component] = prepared.cache_hit
        if prepared.providers:
            self.providers[component] = prepared.providers
        if prepared.tf32 is not None:
            self.tf32[component] = prepared.tf32
        if prepared.execution:
            self.execution[component] = prepared.execution
        if prepared.precision:
            self.precision[component] = prepared.precision

    def fall_back(self, component: str, reason: str) -> None:
        self.effective[component] = "pytorch"
        self.fallback_reason = "; ".join(filter(None, [self.fallback_reason, reason]))

    @property
    def effective_summary(self) -> str:
        kinds = set(self.effective.values())
        if not kinds:  # a pipeline without neural components runs nothing on the backend
            return "none"
        if len(kinds) == 1:
            return kinds.pop()
        return ",".join(f"{name}={kind}" for name, kind in self.effective.items())

    @property
    def cache_status(self) -> str:
        """hit, miss, partial (some hit) or none (nothing cached)."""
        if not self.cache:
            return "none"
        hits = sum(self.cache.values())
        return "hit" if hits == len(self.cache) else "miss" if hits == 0 else "partial"

    def tags(self) -> dict[str, str]:
        tags = {
            "backend.requested": self.requested,
            "backend.effective": self.effective_summary,
            "backend.fallback_reason": self.fallback_reason or "",
            "backend.cache": self.cache_status,
        }
        providers = sorted({p for names in self.providers.values() for p in names})
        if providers:
            tags["backend.providers"] = ",".join(providers)
        if self.tf32:
            states = {"on" if on else "off" for on in self.tf32.values()}
            tags["backend.tf32"] = (states.pop() if len(states) == 1 else ",".join(
                f"{name}={'on' if on else 'off'}" for name, on in self.tf32.items()))
        tags |= {f"backend.execution.{name}": text for name, text in self.execution.items()}
        tags |= {f"backend.precision.{name}": text for name, text in self.precision.items()}
        return tags

    def metrics(self) -> dict[str, float]:
        return {"cold.export_s": self.export_s, "cold.build_s": self.build_s,
                "cold.load_s": self.load_s}


def backend_class(name: str) -> type[Backend]:
    if name not in AVAILABLE:
        raise ConfigError(f"backend={name} is not known; choose one of {', '.join(AVAILABLE)}")
    return importlib.import_module(AVAILABLE[name]).BACKEND


def prepare(pipeline: Pipeline, backend_cfg: Any, device: torch.device | None = None,
            dtype: torch.dtype = torch.float32, cache_dir: str | Path | None = None,
            frames: FrameRange | None = None, quantize: str | None = None,
            calibration: CalibrationSet | None = None,
            quantizable: frozenset[str] = frozenset(), tf32: bool = False,
            holds: Mapping[str, Hold] | None = None,
            keep_float: frozenset[str] = frozenset()) -> BackendReport:
    """Make every neural component of ``pipeline`` run on the configured backend;
    ``tf32`` (``precision.tf32``): whether its float32 math may use TF32 on CUDA."""
    name = backend_cfg.name
    ctx = BackendContext(cfg=backend_cfg, device=device or pipeline.device, dtype=dtype,
                         cache=ArtifactCache(resolve_cache_dir(str(cache_dir) if cache_dir else None)),
                         frames=frames or FrameRange(16, 256, 4096), quantize=quantize,
                         calibration=calibration, quantizable=quantizable, tf32=tf32,
                         holds=holds or {}, keep_float=keep_float)
    backend = backend_class(name)(ctx)
    report = BackendReport(requested=name, after_run=backend.after_run)
    if quantize and name not in QUANTISING:
        reason = (f"precision={quantize} is quantised by backend={'|'.join(QUANTISING)} only "
                  f"(NNCF); backend={name} runs the components in float32")
        log.warning(reason)
        report.fallback_reason = reason
        report.precision = dict.fromkeys(pipeline.components, f"f32 (backend={name})")
    reason = backend.unavailable_reason() if pipeline.components else None
    if reason:
        if backend_cfg.strict:
            raise BackendUnavailable(f"backend={name} cannot run here: {reason} "
                                     "(or set backend.strict=false to fall back to pytorch)")
        log.warning("backend=%s unavailable (%s); every component runs on pytorch", name, reason)
        report.fallback_reason = reason
        for component in pipeline.components.values():
            component.run = component.module
            report.effective[component.name] = "pytorch"
        return report
    for component in pipeline.components.values():
        try:
            prepared = backend.prepare(component)
        except Exception as exc:
            problem = f"{component.name}: {type(exc).__name__}: {_first_line(exc)}"
            if backend_cfg.strict:
                raise BackendUnavailable(
                    f"backend={name} could not prepare {problem}; use another backend, or "
                    "backend.strict=false to run that component on pytorch") from exc
            log.warning("backend=%s failed for %s; it runs on pytorch", name, problem)
            component.run = component.module
            report.fall_back(component.name, problem)
            continue
        component.run = prepared.run
        report.add(component.name, prepared, name)
    return report


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
