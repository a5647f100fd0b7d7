"""torch.compile's state across the cells of one process: reset per cell, counted per cell.

Dynamo keeps compiled code, guards and its recompile counts for the life of the process.
Past ``torch._dynamo.config.recompile_limit`` compilations of one frame it gives up and
runs that frame eagerly, with a log warning only, while the run is tagged ``compile``. So
each compile cell starts with ``torch._dynamo.reset()`` and records what Dynamo did in it:
frames compiled, recompilations (a compile of a frame that already had compiled code:
``cache_size >= 1`` in Dynamo's compilation metrics), graph breaks, and recompile-limit
hits (each a frame that then ran eagerly).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

log = logging.getLogger(__name__)

LIMIT_HIT = "recompile limit exceeded"  # in Dynamo's message for a frame it gave up on


def _counters() -> dict[str, Counter]:
    from torch._dynamo.utils import counters

    return counters


def _totals() -> dict[str, int]:
    counters = _counters()
    return {
        "frames": counters["frames"]["ok"],
        "graph_breaks": sum(counters["graph_break"].values()),
        "limit_hits": sum(n for msg, n in counters["unimplemented"].items()
                          if LIMIT_HIT in msg.lower()),
    }


@dataclass
class DynamoWatch:
    """Dynamo's counters when the cell began (they are process-wide and never reset)."""

    start: dict[str, int]

    @classmethod
    def begin(cls) -> DynamoWatch:
        """Reset Dynamo (compiled code, guards, recompile counts) and start counting."""
        import torch._dynamo
        from torch._dynamo.utils import clear_compilation_metrics

        torch._dynamo.reset()
        clear_compilation_metrics()
        return cls(_totals())

    def metrics(self) -> dict[str, float]:
        """``compile.*`` figures of the cell so far (warned about when Dynamo gave up)."""
        from torch._dynamo.utils import get_compilation_metrics

        now = _totals()
        delta = {key: now[key] - self.start[key] for key in now}
        recompiles = sum(1 for m in get_compilation_metrics() if (m.cache_size or 0) >= 1)
        if delta["limit_hits"]:
            log.warning("torch.compile hit torch._dynamo.config.recompile_limit %d time(s): "
                        "those frames ran eagerly, so this run is only partly compiled "
                        "(compile.recompile_limit_hits)", delta["limit_hits"])
        return {"compile.frames": float(delta["frames"]),
                "compile.recompiles": float(recompiles),
                "compile.graph_breaks": float(delta["graph_breaks"]),
                "compile.recompile_limit_hits": float(delta["limit_hits"])}
