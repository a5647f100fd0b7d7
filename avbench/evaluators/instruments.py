"""Pretrained measuring instruments (DNSMOS, the GE2E speaker encoder), loaded once per process.

They are not part of the pipeline: their weights are fetched like the pipeline's (into the
weights cache) whatever ``weights`` says. When they cannot be had (no cache, no index) the
figure is skipped and the reason recorded as a tag: a recorded fallback, never a silent one.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from avbench.models.pretrained import WeightsUnavailable
from avbench.run_types import RunContext
from avbench.runtime import resolve_cache_dir

log = logging.getLogger(__name__)
T = TypeVar("T")
# The converted output vocals pass through every component but the F0 method.
OUTPUT_PATH = ("separation", "content_encoder", "pitch_encoder", "flow_decoder",
               "mel_projection", "vocoder")


@functools.cache
def _load(factory: Callable[[Path], Any], cache_dir: Path) -> Any:
    return factory(cache_dir)


def release() -> None:
    """Drop the loaded instruments at the end of a run, so that a sweep's next cell does not
    carry them in its own memory peak (they load again in well under a second)."""
    _load.cache_clear()


def instrument(ctx: RunContext, name: str, factory: Callable[[Path], T]) -> T | None:
    """``factory(weights cache dir)``, cached per process; None (and a tag) when unavailable."""
    try:
        return _load(factory, resolve_cache_dir(ctx.cfg.weights.cache_dir))
    except WeightsUnavailable as error:
        log.warning("%s skipped: %s", name, error)
        ctx.set_tags({f"quality.{name}.skipped": str(error)[:500]})
        return None
