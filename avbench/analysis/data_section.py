"""The report's section for task=data runs: throughput, loader wait and verdict per cell."""

from __future__ import annotations

from typing import Any

import pandas as pd

from avbench.analysis.compare import to_markdown

DATA_METRICS = {
    "data.loader_samples_per_s": "loader alone /s", "data.samples_per_s": "with step /s",
    "data.audio_s_per_s": "audio s/s", "data.loader_wait_pct": "wait %",
    "data.step_ms.p50": "step ms", "data.samples_per_s.first_epoch": "1st epoch /s",
    "data.cache_build_s": "cache build s",
}
DATA_TAGS = {"data.bottleneck": "bottleneck", "data.recommendation": "recommended change"}


def data_rows(client: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per finished data run: loader, workers, figures, verdict."""
    if "data.samples_per_s" not in frame.columns:
        return pd.DataFrame()
    runs = frame[(frame["status"] == "FINISHED") & frame["data.samples_per_s"].notna()]
    rows = []
    for _, run in runs.iterrows():
        data = client.get_run(run["run_id"]).data
        tags = data.tags
        row = {"loader": tags.get("choice.loader", "-"),
               "workers": data.params.get("data.workers", "-"),
               "run": run["run_id"][:8]}
        row |= {label: run.get(metric) for metric, label in DATA_METRICS.items()}
        row |= {label: tags.get(tag, "-") for tag, label in DATA_TAGS.items()}
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["loader", "workers"]).reset_index(drop=True)


def compare_rows(client: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """Runs with data.compare: each variant's loader-alone samples/s, side by side."""
    prefix = "data.loader_samples_per_s."
    columns = [c for c in frame.columns if c.startswith(prefix) and c != prefix + "first_epoch"]
    speedups = [c for c in frame.columns if c.startswith("data.speedup.")]
    if not columns:
        return pd.DataFrame()
    runs = frame[frame[columns].notna().any(axis=1)]
    table = runs[["run_id", *columns, *speedups]].rename(
        columns={c: c.removeprefix(prefix) + " /s" for c in columns}
        | {c: c.removeprefix("data.speedup.") + " x" for c in speedups})
    table.insert(0, "workers", [client.get_run(r).data.params.get("data.workers", "-")
                                for r in table["run_id"]])
    table.insert(1, "batch", [client.get_run(r).data.params.get("data.batch_size", "-")
                              for r in table["run_id"]])
    table["run_id"] = table["run_id"].str[:8]
    return table.rename(columns={"run_id": "run"}).sort_values(["workers", "batch"])


def data_section(client: Any, frame: pd.DataFrame) -> list[str]:
    """Markdown lines of the data section (none when the report has no data runs)."""
    rows = data_rows(client, frame)
    if rows.empty:
        return []
    lines = ["## Training input (task=data)", "",
             "Samples/s drawn by the loader alone and with the train step; wait % is the "
             "share of the epoch the step spent waiting for its next batch (medians over the "
             "epochs after the first).", "", to_markdown(rows, digits=1), ""]
    compared = compare_rows(client, frame)
    if not compared.empty:
        lines += ["Loader alone, every variant at the run's worker count (data.compare):", "",
                  to_markdown(compared, digits=1), ""]
    return lines
