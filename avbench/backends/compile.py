"""torch.compile: each component compiled with ``backend.compile_mode``.

Compilation happens on the first call, so ``prepare`` makes that call on
inputs of the run's length: its time is ``cold.build_s``, not steady state.
Each run (a cell of an in-process sweep) starts from a reset Dynamo and records what
Dynamo did in it (``compile.*``, see ``dynamo_watch``).
"""

from __future__ import annotations

import time

import torch

from avbench.backends.base import Backend, BackendContext, Prepared
from avbench.backends.dynamo_watch import DynamoWatch
from avbench.pipelines.base import Component


class CompileBackend(Backend):
    name = "compile"

    def __init__(self, ctx: BackendContext) -> None:
        super().__init__(ctx)
        self.watch = DynamoWatch.begin()  # nothing compiled by an earlier cell carries over

    def after_run(self) -> dict[str, float]:
        return self.watch.metrics()

    def unavailable_reason(self) -> str | None:
        if not hasattr(torch, "compile"):
            return f"torch {torch.__version__} has no torch.compile; upgrade torch"
        if self.ctx.device.type == "cpu":
            return cpp_compiler_problem()
        return None

    def prepare(self, component: Component) -> Prepared:
        mode = self.ctx.cfg.compile_mode
        compiled = torch.compile(component.module, mode=None if mode == "default" else mode,
                                 dynamic=self.ctx.cfg.compile_dynamic, fullgraph=False)
        start = time.perf_counter()
        with torch.inference_mode():
            compiled(*component.example_inputs(self.ctx.frames.opt))
        if self.ctx.device.type == "cuda":
            torch.cuda.synchronize(self.ctx.device)
        return Prepared(run=compiled, build_s=time.perf_counter() - start,
                        tf32=self.torch_tf32())


def cpp_compiler_problem() -> str | None:
    """Inductor compiles CPU kernels with a C++ compiler: None when it finds one."""
    from torch._inductor import cpp_builder

    try:
        cpp_builder.get_cpp_compiler()
    except Exception as exc:  # Inductor raises InvalidCxxCompiler (its own type) when none
        return (f"torch.compile on the CPU needs a C++ compiler and Inductor found none "
                f"({type(exc).__name__}); install g++ (e.g. apt install g++)")
    return None


BACKEND = CompileBackend
