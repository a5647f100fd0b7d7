"""The sweep's end table as files (sweep.csv, sweep.json, sweep.md, logged on the parent) and
its best cell: the fastest VALID cell, never an unstable one or one that failed its gate."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from avbench.analysis.validity import REASONS_TAG, VALIDITY_TAG, Verdict, verdict
from avbench.console import print_line
from avbench.journal import RunResult

COLUMNS = ("job", "cell", "name", "status", "validity", "rtf", "cv_pct", "backend", "parity",
           "attempts", "cores", "reused_from", "run_id", "reasons", "error")
REUSED_TAG = "avbench.resumed_from"  # a resumed cell: the run that measured it


def reused_from(tags: dict[str, str]) -> str:
    return tags.get(REUSED_TAG, "")


def result_verdict(result: RunResult) -> Verdict:
    return verdict(result.status, result.tags, result.metrics)


def with_verdicts(results: list[RunResult]) -> list[RunResult]:
    """Each result's ``validity`` and ``validity.reasons`` tags, derived where the run was
    not judged (the console's table shows them)."""
    for result in results:
        judged = result_verdict(result)
        result.tags[VALIDITY_TAG] = judged.validity
        result.tags[REASONS_TAG] = "; ".join(judged.reasons)
    return results


def best_cell(results: list[RunResult]) -> RunResult | None:
    """The VALID cell with the lowest RTF (None: no VALID cell has an RTF)."""
    timed = [r for r in results if r.ok and "rtf" in r.metrics and result_verdict(r).valid]
    return min(timed, key=lambda r: r.metrics["rtf"]) if timed else None


def print_best(results: list[RunResult]) -> None:
    best = best_cell(results)
    invalid = [r for r in results if r.ok and not result_verdict(r).valid]
    if best is not None:
        print_line(f"  best cell (VALID cells only): {best.name}  RTF {best.metrics['rtf']:.3f}")
    elif any("rtf" in r.metrics for r in results):
        print_line("  [yellow]no best cell: no cell is VALID[/]")
    if invalid:
        print_line(f"  [yellow]{len(invalid)} INVALID cell(s) left out of the best cell[/]: "
                   + "; ".join(f"{r.name} ({'; '.join(result_verdict(r).reasons)})"
                               for r in invalid))


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def rows(results: list[RunResult]) -> list[dict[str, Any]]:
    """One row per cell, in job order; figures rounded (RTF to 3 decimals, CV in %)."""
    table = []
    for r in results:
        tags = r.tags
        judged = result_verdict(r)
        cv = r.metrics.get("rtf.cv")
        table.append({
            "job": tags.get("avbench.job_num", ""), "cell": " ".join(r.overrides) or "default",
            "name": r.name, "status": r.status, "validity": judged.validity,
            "rtf": _rounded(r.metrics.get("rtf"), 3),
            "cv_pct": None if cv is None else _rounded(100 * cv, 1),
            "backend": tags.get("backend.effective", tags.get("backend.requested", "")),
            "parity": tags.get("parity.pass", ""),
            "attempts": int(tags.get("avbench.attempt", "0")) + 1 if r.run_id else 0,
            "cores": tags.get("bench.cpu_affinity", ""),
            "reused_from": reused_from(tags), "run_id": r.run_id or "",
            "reasons": "; ".join(judged.reasons), "error": r.error or ""})
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
    best = best_cell(results)
    lines += ["", f"Best cell (VALID cells only): {best.name} (RTF {best.metrics['rtf']:.3f})"
              if best is not None else "Best cell: none (no VALID cell with an RTF)"]
    paths[2].write_text("\n".join(lines) + "\n")
    return paths
