"""Attach analysis output (a report, its plots) to an existing run, e.g. a sweep's parent."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def log_report(client: Any, run_id: str, markdown: Path, plots: list[Path],
               tables: Sequence[Path] = (), artifact_path: str = "report") -> list[str]:
    """Log ``markdown`` and ``tables`` under ``artifact_path`` and the plots under
    ``<artifact_path>/plots``, so the report's relative image links also resolve in the
    MLflow artifact view. Logging to a finished run leaves its status unchanged."""
    logged = [f"{artifact_path}/{markdown.name}"]
    client.log_artifact(run_id, str(markdown), artifact_path)
    for table in tables:
        client.log_artifact(run_id, str(table), artifact_path)
        logged.append(f"{artifact_path}/{table.name}")
    for plot in plots:
        client.log_artifact(run_id, str(plot), f"{artifact_path}/plots")
        logged.append(f"{artifact_path}/plots/{plot.name}")
    return logged
