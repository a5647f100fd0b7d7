"""The sweep's end table as files: sweep.csv, sweep.json, sweep.md (logged on the parent)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from avbench.journal import RunResult

COLUMNS = ("job", "cell", "name", "status", "rtf", "backend", "parity", "attempts", "cores",
           "reused_from", "run_id", "error")


def rows(results: list[RunResult]) -> list[dict[str, Any]]:
    """One row per cell, in job order."""
    table = []
    for r in results:
        tags = r.tags
        table.append({
            "job": tags.get("avbench.job_num", ""), "cell": " ".join(r.overrides) or "default",
            "name": r.name, "status": r.status, "rtf": r.metrics.get("rtf"),
            "backend": tags.get("backend.effective", tags.get("backend.requested", "")),
            "parity": tags.get("parity.pass", ""),
            "attempts": int(tags.get("avbench.attempt", "0")) + 1 if r.run_id else 0,
            "cores": tags.get("bench.cpu_affinity", ""),
            "reused_from": tags.get("avbench.resumed_from", ""), "run_id": r.run_id or "",
            "error": r.error or ""})
    return table


def write_tables(results: list[RunResult], directory: Path) -> list[Path]:
    """sweep.csv, sweep.json and sweep.md in ``directory``; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    table = rows(results)
    paths = [directory / "sweep.csv", directory / "sweep.json", directory / "sweep.md"]
    with open(paths[0], "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(table)
    paths[1].write_text(json.dumps(table, indent=2) + "\n")
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in table:
        cells = ["" if row[c] is None else str(row[c]).replace("|", "\\|") for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    paths[2].write_text("\n".join(lines) + "\n")
    return paths
