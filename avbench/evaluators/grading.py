"""Whether a quality figure is graded: every component it depends on has real weights."""

from __future__ import annotations

GRADED = "graded"
WEIGHTS_TAG = "model.weights."
GRADING_TAG = "grading."  # grading.<metric> = graded | not graded (seeded: <components>)


def grading(tags: dict[str, str], depends_on: tuple[str, ...]) -> str:
    """``graded`` when every component the figure depends on has real weights, else
    ``not graded (seeded: <components>)``. A component the pipeline does not have (no
    ``model.weights.<component>`` tag, e.g. ``f0`` with YIN) is no dependency."""
    seeded = [c for c in depends_on if tags.get(f"{WEIGHTS_TAG}{c}") == "seeded"]
    return f"not graded (seeded: {', '.join(seeded)})" if seeded else GRADED
