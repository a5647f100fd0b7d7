"""The sweep parent's name and its closing summary (metrics, tags, tables, status)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from avbench import journal
from avbench.sweeps.plan import SweepPlan
from avbench.sweeps.summary import best_cell, result_verdict, reused_from
from avbench.tracking import keys


def sweep_name(config: DictConfig, plan: SweepPlan) -> str:
    """sweep.name, else one built from the swept axes: ``sweep-preset-precision-<time>``."""
    if config.sweep.name:
        return str(config.sweep.name)
    axes = "-".join(key.split("/")[-1].lstrip("+~") for key in plan.axes) or "cells"
    return f"sweep-{axes}-{time.strftime('%Y%m%d-%H%M%S')}"


def absolute_uri(uri: str | None) -> str | None:
    """A relative SQLite path made absolute, so jobs started elsewhere (a Ray worker's own
    working directory) write to the same store."""
    if uri and uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(uri[len("sqlite:///"):]).resolve())
    return uri


def close_parent(client: Any, run_id: str, results: list[journal.RunResult], wall_s: float,
                 notes: list[str] | None = None, artifacts: list[Path] | None = None,
                 failed_run: bool = False) -> None:
    """Summarise the children on the parent and end it FINISHED or FAILED."""
    client = keys.CheckedClient(client)
    failed = [r for r in results if not r.ok]
    lost = [r for r in results if r.status == journal.LOST]
    client.log_metric(run_id, "sweep.cells", len(results))
    client.log_metric(run_id, "sweep.failed", len(failed))
    client.log_metric(run_id, "sweep.wall_s", wall_s)
    client.set_tag(run_id, "sweep.lost", str(len(lost)))
    client.set_tag(run_id, "sweep.skipped",
                   str(sum(bool(reused_from(r.tags)) for r in results)))
    client.set_tag(run_id, "sweep.retried",
                   str(sum(int(r.tags.get("avbench.attempt", "0")) > 0 for r in results)))
    client.set_tag(run_id, "sweep.core_overlap", str(bool(notes) and any(
        "same time on core" in n for n in notes)).lower())
    _summarise_rtf(client, run_id, results)
    for index, (cell, _, _, speedup) in enumerate(journal.cpu_gpu_speedups(results)):
        client.log_metric(run_id, f"sweep.cpu_vs_gpu_speedup.{index}", speedup)
        client.set_tag(run_id, f"sweep.cpu_vs_gpu_cell.{index}", cell)
    if lost:
        client.set_tag(run_id, "sweep.lost_cells", ", ".join(r.name for r in lost))
    if failed:
        client.set_tag(run_id, "sweep.failed_cells", ", ".join(r.name for r in failed))
        client.set_tag(run_id, "error", "; ".join(f"{r.name}: {r.error}" for r in failed)[:5000])
    if notes:
        client.set_tag(run_id, "sweep.notes", "; ".join(notes)[:5000])
    for path in artifacts or []:
        client.log_artifact(run_id, str(path))
    ok = results and not failed and not failed_run
    client.set_terminated(run_id, status="FINISHED" if ok else "FAILED")


def _summarise_rtf(client: Any, run_id: str, results: list[journal.RunResult]) -> None:
    """Best cell and median RTF of the VALID finished children, so the sweep list in
    `mlflow ui` answers "which cell won" without opening every child; the INVALID ones are
    counted and named."""
    invalid = [r for r in results if r.ok and not result_verdict(r).valid]
    client.log_metric(run_id, "sweep.invalid", len(invalid))
    if invalid:
        client.set_tag(run_id, "sweep.invalid_cells", "; ".join(
            f"{r.name} ({'; '.join(result_verdict(r).reasons)})" for r in invalid)[:5000])
    best = best_cell(results)
    if best is None:
        if any("rtf" in r.metrics for r in results):
            client.set_tag(run_id, "sweep.best_cell", "none (no VALID cell)")
        return
    valid = [r for r in results if r.ok and "rtf" in r.metrics and result_verdict(r).valid]
    client.log_metric(run_id, "sweep.best_rtf", best.metrics["rtf"])
    client.log_metric(run_id, "sweep.median_rtf",
                      statistics.median(r.metrics["rtf"] for r in valid))
    client.set_tag(run_id, "sweep.best_cell", best.name)
    client.set_tag(run_id, "sweep.best_run_id", best.run_id or "")
