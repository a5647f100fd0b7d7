"""Multi-GPU aggregation from the store: per-device figures side by side, and throughput
summed across the devices that ran the same cell (the AutoVoice guide's multi-GPU table).

A cell is its config without hardware (the ``avbench.cell_config`` tag every sweep child
carries); a device is the host, GPU (or CPU cores) and ``CUDA_VISIBLE_DEVICES`` it ran on.
Run the same cell on every GPU at once with replicas, one cell per GPU:

    python -m avbench -m hydra/launcher=joblib hydra.launcher.n_jobs=4 sweep.replica=0,1,2,3
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from avbench.analysis.runs import PARENT_TAG, experiment_ids, search

SUMMED = ("asps", "rps", "cps")  # throughputs add up across devices; RTF and latency do not


def device_label(tags: dict[str, str]) -> str:
    """``host gpu-name #visible-devices`` on a GPU, ``host cpu cores 0,1`` on the CPU."""
    host = tags.get("avbench.process.host", "?")
    gpu = tags.get("hardware.gpu_name", "none")
    if gpu != "none" and tags.get("device", "cuda").startswith("cuda"):
        return f"{host} {gpu} #{tags.get('gpu.visible_devices', '?')}"
    return f"{host} cpu cores {tags.get('bench.cpu_affinity', '?')}"


def cell_label(tags: dict[str, str]) -> str:
    overrides = [o for o in tags.get("avbench.cell", "").split() if not o.startswith(
        "sweep.replica=")]
    return " ".join(overrides) or "default"


def per_device(client: Any, sweep_id: str, figures: tuple[str, ...] = ("rtf", "asps"),
               experiment: str | None = None) -> pd.DataFrame:
    """One row per cell; columns ``(figure, device)`` for each device that ran it, plus
    ``(figure, "sum")`` for throughputs and ``("devices", "")``. FINISHED children only."""
    runs = search(client, experiment_ids(client, experiment),
                  f"tags.`{PARENT_TAG}` = '{sweep_id}' and attributes.status = 'FINISHED'")
    rows = [{"cell_config": r.data.tags.get("avbench.cell_config", r.info.run_id),
             "cell": cell_label(r.data.tags), "device": device_label(r.data.tags),
             **{f: r.data.metrics.get(f) for f in figures}} for r in runs]
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    labels = frame.groupby("cell_config")["cell"].first()
    table = frame.pivot_table(index="cell_config", columns="device", values=list(figures),
                              aggfunc="median")
    for figure in figures:
        if figure in SUMMED and figure in table.columns.get_level_values(0):
            table[(figure, "sum")] = table[figure].sum(axis=1, min_count=1)
    table[("devices", "")] = frame.groupby("cell_config")["device"].nunique()
    table.index = labels.loc[table.index].values
    table.index.name = "cell"
    return table.sort_index(axis=1, level=0, sort_remaining=False)
