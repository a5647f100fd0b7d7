"""The run's settings as MLflow params: each setting once, as a dotted key."""

from __future__ import annotations

import re
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

# Top-level inputs of the analysis tasks and the run's tags: logged only when given.
_INPUTS = ("baseline", "candidate", "sweep", "tags")
_REFERENCE = re.compile(r"\$\{\.*[\w.\[\]-]+\}")  # ${preset.svc}: a node, not a resolver


def _unused_nodes(cfg: DictConfig) -> set[str]:
    """Top-level config nodes the run's task never reads (not logged as params)."""
    task = cfg.task.name
    unused = {"limits"}  # bounds checked before the run (validation.py), not what it measures
    if task != "data":
        unused |= {"loader", "data"}
    if task != "serve" and cfg.get("scenario", {}).get("name") != "http":
        unused.add("serve")
    if task not in ("pipeline", "serve"):
        unused |= {"scenario", "text"}
    elif cfg.pipeline.get("input", "audio") == "text":
        unused.add("audio")
    else:
        unused.add("text")
    return unused


def settings_params(cfg: DictConfig, task_options: tuple[str, ...] | None = None
                    ) -> dict[str, Any]:
    """Every setting once, as a dotted key with its resolved value.

    A node that only points at another (``pipeline.settings: ${preset.svc}``) is logged
    where it is set; empty containers say nothing; ``task.*`` holds the options of every
    task, so only ``task.name`` and the task's own ``task_options`` are kept (None: all).
    Group choices are tags (``choice.<group>``), not params.
    """
    flat: dict[str, Any] = {}

    def walk(node: DictConfig, prefix: str) -> None:
        for key in node:
            path = f"{prefix}{key}"
            raw = node._get_node(key)._value()  # noqa: SLF001 (unresolved, to spot references)
            if (isinstance(raw, str) and _REFERENCE.fullmatch(raw)) or OmegaConf.is_missing(
                    node, key):
                continue
            value = node[key]
            if isinstance(value, DictConfig):
                walk(value, f"{path}.")
            elif isinstance(value, ListConfig):
                if len(value):
                    flat[path] = OmegaConf.to_container(value, resolve=True)
            else:
                flat[path] = value

    walk(cfg, "")
    unused = _unused_nodes(cfg)
    flat = {k: v for k, v in flat.items() if k.split(".", 1)[0] not in unused}
    if cfg.get("scenario", {}).get("name") == "repeats":  # the load settings do not apply
        flat = {k: v for k, v in flat.items()
                if not k.startswith("scenario.") or k == "scenario.name"}
    for key in [k for k in flat if k.split(".", 1)[0] in _INPUTS]:
        if flat[key] is None:
            del flat[key]
    if task_options is not None:
        keep = {"task.name", *(f"task.{option}" for option in task_options)}
        flat = {k: v for k, v in flat.items() if not k.startswith("task.") or k in keep}
    return flat
