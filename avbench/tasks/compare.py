"""task=compare: baseline vs candidate (runs or sweeps), cell by cell; exit 1 on a regression."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from avbench.analysis.compare import (
    SLOWER,
    CellChange,
    across_values,
    changes_frame,
    detect_regressions,
    unmatched,
)
from avbench.analysis.runs import open_store, resolve_runs
from avbench.console import console, print_line
from avbench.runtime import ConfigError
from avbench.tracking import RunLogger, resolve_tracking_uri

TRACKED = False  # reads the store; a comparison is not a benchmark run of its own


class RegressionFound(ConfigError):
    """At least one cell got significantly slower; the table above has the figures."""


def run_name(cfg: DictConfig) -> str:
    return "compare"


def print_changes(changes: list[CellChange], threshold_pct: float, alpha: float) -> None:
    table = Table(title=f"compare · slower/faster = |change| > {threshold_pct:g} % and "
                        f"Mann-Whitney p < {alpha:g}", title_justify="left")
    for column in ("cell", "hardware", "baseline ms", "candidate ms", "change", "speed-up (95% CI)",
                   "p", "verdict"):
        table.add_column(column, justify="left" if column in ("cell", "hardware") else "right")
    colours = {"slower": "red", "faster": "green", "unchanged": "white"}
    for c in changes:
        table.add_row(c.cell, c.hardware_key, f"{c.baseline_ms:,.1f}", f"{c.candidate_ms:,.1f}",
                      f"{c.change.change_pct:+.1f} %",
                      f"{c.speedup:.3f} [{c.speedup_ci_low:.3f}, {c.speedup_ci_high:.3f}]",
                      f"{c.change.p_value:.2g}",
                      f"[{colours[c.change.verdict]}]{c.change.verdict}[/]")
    # Rows never wrap: a narrow (or non-tty, 80-column) console gets the table at full width.
    Console(highlight=False, width=max(console.width, 140)).print(table)
    underpowered = [c for c in changes if c.change.min_p_value >= alpha]
    if underpowered:
        print_line(f"  note: {len(underpowered)} cell(s) have too few repeats for any change to "
                   f"reach p < {alpha:g}; raise bench.min_repeats (8 per side reach p < 0.001)")


def execute(cfg: DictConfig, logger: RunLogger, out_dir: Path, name: str) -> dict[str, float]:
    task = cfg.task
    if not cfg.baseline or not cfg.candidate:
        raise ConfigError("task=compare needs baseline=<run or sweep id> "
                          "candidate=<run or sweep id>")
    client = open_store(resolve_tracking_uri(cfg.tracking.uri))
    baseline = resolve_runs(client, cfg.baseline)
    candidate = resolve_runs(client, cfg.candidate)
    across = list(task.across)
    changes = detect_regressions(client, baseline, candidate, threshold_pct=task.threshold_pct,
                                 alpha=task.alpha, across=across)
    print_changes(changes, task.threshold_pct, task.alpha)
    sides = {"baseline": across_values(baseline, across),
             "candidate": across_values(candidate, across)}
    for group in across:
        print_line(f"  across {group}: baseline {', '.join(sides['baseline'].get(group, []))}"
                   f" -> candidate {', '.join(sides['candidate'].get(group, []))}")
    missing = unmatched(baseline, candidate, across)
    if missing:
        print_line(f"  [yellow]not compared[/]: {len(missing)} baseline cell(s) have no finished "
                   f"candidate: {', '.join(missing)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {"baseline": cfg.baseline, "candidate": cfg.candidate,
              "threshold_pct": task.threshold_pct, "alpha": task.alpha, "across": sides,
              "cells": changes_frame(changes).to_dict(orient="records"),
              "not_compared": missing}
    (out_dir / "compare.json").write_text(json.dumps(record, indent=2) + "\n")
    counts = {verdict: sum(c.change.verdict == verdict for c in changes)
              for verdict in ("slower", "faster", "unchanged")}
    print_line(f"  {len(changes)} cells: {counts['slower']} slower, {counts['faster']} faster, "
               f"{counts['unchanged']} unchanged  (details: {out_dir / 'compare.json'})")
    slower = [c for c in changes if c.change.verdict == SLOWER]
    if slower:
        worst = max(slower, key=lambda c: c.change.change_pct)
        raise RegressionFound(
            f"regression: {len(slower)} of {len(changes)} cells slower than the baseline; worst "
            f"{worst.cell} {worst.change.change_pct:+.1f} % (p={worst.change.p_value:.2g})")
    return {f"compare.{verdict}": float(n) for verdict, n in counts.items()}
