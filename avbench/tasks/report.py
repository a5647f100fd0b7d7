"""task=report: a markdown report of a sweep (default: the latest), logged to its parent run."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from avbench.analysis.report import build_report, report_dir
from avbench.analysis.runs import get_run, latest_sweep, open_store
from avbench.console import print_line
from avbench.tracking import RunLogger, resolve_tracking_uri
from avbench.tracking.reports import log_report

TRACKED = False  # the report belongs to the sweep it describes, not to a run of its own


def run_name(cfg: DictConfig) -> str:
    return "report"


def execute(cfg: DictConfig, logger: RunLogger, out_dir: Path, name: str) -> dict[str, float]:
    client = open_store(resolve_tracking_uri(cfg.tracking.uri))
    sweep_id = cfg.sweep.id or latest_sweep(client, cfg.tracking.experiment)
    target = report_dir(get_run(client, sweep_id), out_dir / "report")
    report = build_report(client, sweep_id, target)
    logged = log_report(client, report.run_id, report.markdown, report.plots, report.tables)
    failed = int((report.frame["status"] != "FINISHED").sum())
    print_line(f"  report of {sweep_id}: {len(report.frame)} cells ({failed} failed), "
               f"{len(report.plots)} plots")
    print_line(f"  written to {report.markdown}")
    print_line(f"  logged to run {report.run_id} as {logged[0]} (open with: mlflow ui)")
    return {"report.cells": float(len(report.frame)), "report.failed": float(failed),
            "report.plots": float(len(report.plots))}
