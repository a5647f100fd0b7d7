"""What every benchmark script starts with: its own ``key=value`` options taken out of the
command line, the rest composed as a run's config (tracking off), on 2 threads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir

from avbench.config import register_configs

CONF = Path(__file__).resolve().parents[1] / "conf"


def option(overrides: list[str], name: str, default: str) -> str:
    """The value of the script's own ``name=value`` option, else ``default``."""
    return next((o.split("=", 1)[1] for o in overrides if o.startswith(f"{name}=")), default)


def run_config(overrides: list[str], own: tuple[str, ...] = ("rounds",)) -> Any:
    """The composed config of ``overrides`` less the script's ``own`` options."""
    overrides = [o for o in overrides if not o.startswith(tuple(f"{n}=" for n in own))]
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["tracking=none", *overrides])
    torch.set_num_threads(2)
    return cfg
