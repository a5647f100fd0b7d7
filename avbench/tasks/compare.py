"""task=compare: baseline vs candidate (runs or sweeps), cell by cell, on VALID runs.

Exit codes, for a CI gate:
  0  no cell slower;
  1  a cell slower than the baseline (a regression);
  2  could not compare: a bad or missing id, a run without its timings.csv, no cell of one
     side matches the other, no VALID cell to compare (one line says which);
  3  too unstable to tell: no stable cell is slower, but a cell has an unstable side (tagged
     ``bench.unstable``, or INVALID for noise alone: cv, a busy machine, too few repeats), so
     a change there may be noise. ``task.gate_unstable=true`` gates those cells on their
     measured verdict (never exit 3).
A run INVALID for anything else (a failed parity or quality gate, LoadGen's INVALID,
request errors) is left out and listed under "not compared".
"""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path

from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from avbench.analysis.compare import (
    INCONCLUSIVE,
    SLOWER,
    CellChange,
    Stability,
    across_values,
    changes_frame,
    detect_regressions,
    unmatched,
)
from avbench.analysis.runs import open_store, resolve_runs
from avbench.console import console, print_line
from avbench.errors import UserError, first_line
from avbench.runtime import ConfigError
from avbench.tracking import RunLogger, resolve_tracking_uri

log = logging.getLogger(__name__)
TRACKED = False  # reads the store; a comparison is not a benchmark run of its own
VERDICTS = (SLOWER, "faster", "unchanged", INCONCLUSIVE)


class RegressionFound(ConfigError):
    """At least one stable cell got significantly slower; the table above has the figures."""

    exit_code = 1


class CannotCompare(UserError):
    """Nothing could be compared (the message says why): not a verdict on speed."""

    exit_code = 2


class Inconclusive(ConfigError):
    """No stable cell is slower, but an unstable side leaves a cell undecided."""

    exit_code = 3


def run_name(cfg: DictConfig) -> str:
    return "compare"


def _side(side: Stability) -> str:
    cv = "-" if math.isnan(side.cv) else f"{100 * side.cv:.1f} %"
    return cv + (" [red]UNSTABLE[/]" if side.unstable else "")


def _log_traceback_to_file(message: str) -> None:
    """An unexpected error's traceback to the run's log file only (the console gets the one
    line of CannotCompare)."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, None,
                            sys.exc_info())
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def print_changes(changes: list[CellChange], threshold_pct: float, alpha: float) -> None:
    table = Table(title=f"compare · slower/faster = |change| > {threshold_pct:g} % and "
                        f"Mann-Whitney p < {alpha:g}, on time per audio second (RTF)",
                  title_justify="left")
    for column in ("cell", "hardware", "baseline ms", "candidate ms", "baseline CV",
                   "candidate CV", "change", "speed-up (95% CI)", "p", "verdict"):
        table.add_column(column, justify="left" if column in ("cell", "hardware") else "right")
    colours = {SLOWER: "red", "faster": "green", "unchanged": "white", INCONCLUSIVE: "yellow"}
    for c in changes:
        table.add_row(c.cell, c.hardware_key, f"{c.baseline_ms:,.1f}", f"{c.candidate_ms:,.1f}",
                      _side(c.baseline_side), _side(c.candidate_side),
                      f"{c.change.change_pct:+.1f} %",
                      f"{c.speedup:.3f} [{c.speedup_ci_low:.3f}, {c.speedup_ci_high:.3f}]",
                      f"{c.change.p_value:.2g}", f"[{colours[c.verdict]}]{c.verdict}[/]"
                      + (f" ({c.change.verdict})" if c.verdict == INCONCLUSIVE else ""))
    # Rows never wrap: a narrow (or non-tty, 80-column) console gets the table at full width.
    Console(highlight=False, width=max(console.width, 170)).print(table)
    underpowered = [c for c in changes if c.change.min_p_value >= alpha]
    if underpowered:
        print_line(f"  note: {len(underpowered)} cell(s) have too few repeats for any change to "
                   f"reach p < {alpha:g}; raise bench.min_repeats (8 per side reach p < 0.001)")


def print_commits(changes: list[CellChange]) -> None:
    for side in ("baseline", "candidate"):
        commits = sorted({getattr(c, f"{side}_side").git for c in changes})
        print_line(f"  {side:<9} git {', '.join(commits)}")


def execute(cfg: DictConfig, logger: RunLogger, out_dir: Path, name: str) -> dict[str, float]:
    try:
        changes = compare(cfg, out_dir)
    except UserError as error:
        raise CannotCompare(f"could not compare: {first_line(error)}") from None
    except Exception as error:  # a store or artifact error: still "could not compare"
        _log_traceback_to_file("task=compare failed")
        raise CannotCompare(f"could not compare: {type(error).__name__}: "
                            f"{first_line(error)}") from None
    counts = {verdict: sum(c.verdict == verdict for c in changes) for verdict in VERDICTS}
    print_line(f"  {len(changes)} cells: {counts[SLOWER]} slower, {counts['faster']} faster, "
               f"{counts['unchanged']} unchanged, {counts[INCONCLUSIVE]} inconclusive  "
               f"(details: {out_dir / 'compare.json'})")
    gate(changes)
    return {f"compare.{verdict}": float(n) for verdict, n in counts.items()}


def compare(cfg: DictConfig, out_dir: Path) -> list[CellChange]:
    """Match, classify, print and write ``compare.json``; raises when nothing compares."""
    task = cfg.task
    if not cfg.baseline or not cfg.candidate:
        raise ConfigError("task=compare needs baseline=<run or sweep id> "
                          "candidate=<run or sweep id>")
    client = open_store(resolve_tracking_uri(cfg.tracking.uri))
    baseline = resolve_runs(client, cfg.baseline)
    candidate = resolve_runs(client, cfg.candidate)
    across = list(task.across)
    changes = detect_regressions(client, baseline, candidate, threshold_pct=task.threshold_pct,
                                 alpha=task.alpha, across=across,
                                 gate_unstable=task.gate_unstable)
    print_changes(changes, task.threshold_pct, task.alpha)
    print_commits(changes)
    sides = {"baseline": across_values(baseline, across),
             "candidate": across_values(candidate, across)}
    for group in across:
        print_line(f"  across {group}: baseline {', '.join(sides['baseline'].get(group, []))}"
                   f" -> candidate {', '.join(sides['candidate'].get(group, []))}")
    missing = unmatched(baseline, candidate, across)
    if missing:
        print_line(f"  [yellow]not compared[/]: {len(missing)} baseline cell(s) have no VALID "
                   f"finished candidate: {'; '.join(missing)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {"baseline": cfg.baseline, "candidate": cfg.candidate,
              "threshold_pct": task.threshold_pct, "alpha": task.alpha, "across": sides,
              "gate_unstable": task.gate_unstable,
              "cells": changes_frame(changes).to_dict(orient="records"),
              "not_compared": missing}
    (out_dir / "compare.json").write_text(json.dumps(record, indent=2) + "\n")
    return changes


def gate(changes: list[CellChange]) -> None:
    """Raise on a slower cell (exit 1), else on an inconclusive one (exit 3)."""
    slower = [c for c in changes if c.verdict == SLOWER]
    if slower:
        worst = max(slower, key=lambda c: c.change.change_pct)
        raise RegressionFound(
            f"regression: {len(slower)} of {len(changes)} cells slower than the baseline; worst "
            f"{worst.cell} {worst.change.change_pct:+.1f} % (p={worst.change.p_value:.2g})")
    undecided = [c for c in changes if c.verdict == INCONCLUSIVE]
    if undecided:
        worst = max(undecided, key=lambda c: max(c.baseline_side.cv, c.candidate_side.cv))
        cv = 100 * max(worst.baseline_side.cv, worst.candidate_side.cv)
        reasons = "; ".join(filter(None, (worst.baseline_side.reasons,
                                           worst.candidate_side.reasons)))
        raise Inconclusive(
            f"inconclusive: {len(undecided)} of {len(changes)} cells have an unstable side "
            f"(worst {worst.cell}: RTF CV {cv:.0f} %{', ' + reasons if reasons else ''}, "
            f"measured {worst.change.verdict} {worst.change.change_pct:+.1f} %): too unstable "
            "to tell; rerun on a quiet machine (task=doctor) or pass task.gate_unstable=true "
            "to gate anyway")
