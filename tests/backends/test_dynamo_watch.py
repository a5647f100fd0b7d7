"""torch.compile across the cells of one process: Dynamo reset per compile cell, and what
it compiled, recompiled, broke and gave up on recorded per cell (Dynamo's eager backend:
the counting is Dynamo's, no Inductor compile needed)."""

from __future__ import annotations

import torch

from avbench.backends import prepare
from avbench.backends.dynamo_watch import DynamoWatch
from avbench.pipelines.base import Pipeline
from tests.backends.test_prepare import backend_cfg


def double_sum(x: torch.Tensor) -> torch.Tensor:
    return (2 * x).sum()


def broken(x: torch.Tensor) -> torch.Tensor:
    y = x + 1
    torch._dynamo.graph_break()
    return y * 2


def test_recompiles_and_graph_breaks_are_counted_per_cell() -> None:
    watch = DynamoWatch.begin()
    compiled = torch.compile(double_sum, backend="eager", dynamic=False)
    for n in (3, 4, 5):  # each new length recompiles the frame
        compiled(torch.ones(n))
    assert watch.metrics() == {"compile.frames": 3.0, "compile.recompiles": 2.0,
                               "compile.graph_breaks": 0.0, "compile.recompile_limit_hits": 0.0}
    watch = DynamoWatch.begin()
    torch.compile(broken, backend="eager")(torch.ones(3))
    figures = watch.metrics()
    assert figures["compile.graph_breaks"] == 1.0 and figures["compile.recompiles"] == 0.0


def test_a_frame_past_the_recompile_limit_is_counted_and_warned(caplog) -> None:
    watch = DynamoWatch.begin()
    with torch._dynamo.config.patch(recompile_limit=2):
        compiled = torch.compile(torch.cos, backend="eager", dynamic=False)
        for n in range(2, 7):
            compiled(torch.ones(n))
    assert watch.metrics()["compile.recompile_limit_hits"] == 1.0
    assert "ran eagerly" in caplog.text


def test_each_compile_cell_starts_from_a_reset_dynamo() -> None:
    """Without the reset, a second cell would find the first cell's compiled code (and its
    recompile count, which brings the limit closer with every cell)."""
    compiled = torch.compile(double_sum, backend="eager", dynamic=False)
    compiled(torch.ones(3))
    compiled(torch.ones(4))
    report = prepare(Pipeline(torch.device("cpu"), 22050), backend_cfg("compile"),
                     torch.device("cpu"))  # a new compile cell (no components needed here)
    compiled(torch.ones(4))  # compiled again: the reset dropped the code of the cell before
    assert report.after_run() == {"compile.frames": 1.0, "compile.recompiles": 0.0,
                                  "compile.graph_breaks": 0.0,
                                  "compile.recompile_limit_hits": 0.0}
    assert prepare(Pipeline(torch.device("cpu"), 22050), backend_cfg("pytorch"),
                   torch.device("cpu")).after_run() == {}
