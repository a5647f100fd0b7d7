"""Long inputs through a component in pieces, so that one piece's working set stays in cache.

A component called on a whole 30 s song holds tensors of tens of MB per layer (the balanced
vocoder's last stage: 85 MB), more than the last-level cache; its time per audio second then
grows with length. Called piece by piece, every piece costs what a short input costs, so time
stays linear in length and long inputs run faster (docs/measurement.md, "Time against
length"). Both ways of cutting here give at most three piece sizes, each at least half the
longest, so compiled engines see few shapes and never a tiny one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Component = Callable[[Tensor], Tensor]


def spans(total: int, longest: int, multiple: int = 1) -> list[tuple[int, int]]:
    """``[start, stop)`` spans covering ``range(total)``: as few as hold at most ``longest``
    each, of equal length (rounded up to ``multiple``, of which ``longest`` must be one) but
    for the last. ``longest <= 0`` gives one span."""
    check_longest(longest, multiple)
    if longest <= 0 or total <= longest:
        return [(0, total)]
    count = _ceil_div(total, longest)
    size = _ceil_div(_ceil_div(total, count), multiple) * multiple
    return [(start, min(start + size, total)) for start in range(0, total, size)]


def check_longest(longest: int, multiple: int, name: str = "longest piece") -> None:
    """A ValueError naming ``name`` unless ``longest`` is 0 (off) or a multiple of ``multiple``."""
    if longest > 0 and longest % multiple:
        raise ValueError(f"{name}={longest} is not a multiple of {multiple} "
                         "(0 = the whole input)")


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def in_segments(component: Component, spectrogram: Tensor, frames: int,
                multiple: int = 1) -> Tensor:
    """``component`` on independent segments of at most ``frames`` frames of the last axis,
    joined again: Spleeter's own ``pad_and_partition``, which cuts the spectrogram into
    segments of T frames and separates each alone (here of equal length, so no short tail
    separates with almost no context)."""
    cuts = spans(spectrogram.shape[-1], frames, multiple)
    if len(cuts) == 1:
        return component(spectrogram)
    return torch.cat([component(spectrogram[..., a:b].contiguous()) for a, b in cuts], dim=-1)


def overlapped(component: Component, frames_in: Tensor, frames: int, context: int,
               samples_per_frame: int) -> Tensor:
    """``component`` (frames -> ``samples_per_frame`` samples each, on the last axis) on
    chunks of at most ``frames`` frames, each read with ``context`` more frames either side
    and its output cropped to its own span. With ``context`` at least the component's
    receptive radius, the result equals the whole call up to floating-point rounding."""
    total = frames_in.shape[-1]
    cuts = spans(total, frames)
    if len(cuts) == 1:
        return component(frames_in)
    pieces = []
    for a, b in cuts:
        lo, hi = max(0, a - context), min(total, b + context)
        out = component(frames_in[..., lo:hi].contiguous())
        pieces.append(out[..., (a - lo) * samples_per_frame:(b - lo) * samples_per_frame])
    return torch.cat(pieces, dim=-1)
