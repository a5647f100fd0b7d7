"""What a person sees: phase progress, the run summary and the sweep summary."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from avbench.journal import RunResult

console = Console(highlight=False)
PHASES = ("input", "build", "warm-up", "repeats")


def phase(index: int, name: str, detail: str = "") -> None:
    console.print(f"[bold cyan][{index}/{len(PHASES)}][/] {name}" + (f"  {detail}" if detail else ""))


@contextmanager
def repeat_progress(total: int) -> Iterator[Any]:
    """A progress bar over timed repeats; yields ``advance(done, total)``."""
    progress = Progress(TextColumn("      repeats"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, transient=False)
    task = progress.add_task("repeats", total=total)
    with progress:
        yield lambda done, _total: progress.update(task, completed=done)


def print_run_summary(summary: Mapping[str, Any]) -> None:
    """Stage table (median ms, % of total) and the headline figures of one run."""
    table = Table(title=f"avbench · {summary['run_name']}", title_justify="left")
    table.add_column("stage")
    table.add_column("median ms", justify="right")
    table.add_column("% of total", justify="right")
    for name, ms in summary["stage_ms"].items():
        table.add_row(name, f"{ms:,.1f}", f"{summary['stage_pct'][name]:.1f}")
    table.add_row("[bold]total[/]", f"[bold]{summary['total_ms']:,.1f}[/]", "100.0")
    console.print(table)
    for label, value in summary["lines"]:
        console.print(f"  {label:<18} {value}", soft_wrap=True)


def print_sweep_summary(results: list[RunResult], wall_s: float, parent_run_id: str | None) -> None:
    table = Table(title=f"sweep · {len(results)} cells · {wall_s:.1f} s", title_justify="left")
    for column in ("cell", "status", "rtf", "run id", "error"):
        table.add_column(column)
    for r in results:
        rtf = f"{r.metrics['rtf']:.3f}" if "rtf" in r.metrics else "-"
        status = "[green]FINISHED[/]" if r.ok else "[red]FAILED[/]"
        table.add_row(r.name, status, rtf, r.run_id or "-", (r.error or "")[:80])
    console.print(table)
    failed = sum(not r.ok for r in results)
    if parent_run_id:
        console.print(f"  parent run {parent_run_id}  (open with: mlflow ui)")
    if failed:
        console.print(f"[red]{failed} of {len(results)} cells failed[/]")
