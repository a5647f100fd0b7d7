"""What a person sees: phase progress, the run summary and the sweep summary."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from avbench.journal import LOST, RunResult, cpu_gpu_speedups

console = Console(highlight=False)
if not console.is_terminal:  # logs and CI: do not squeeze tables (run ids) into 80 columns
    console.width = 160
PHASES = ("input", "build", "warm-up", "repeats", "parity")


def phase(index: int, name: str, detail: str = "") -> None:
    console.print(f"[bold cyan][{index}/{len(PHASES)}][/] {name}" + (f"  {detail}" if detail else ""))


@contextmanager
def repeat_progress(total: int, label: str = "repeats") -> Iterator[Any]:
    """A progress bar over timed repeats; yields ``advance(done, total)``, where ``total`` is
    the current estimate of the target (the bar's total follows it)."""
    progress = Progress(TextColumn(f"      {label}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, transient=False)
    task = progress.add_task("repeats", total=total)
    with progress:
        yield lambda done, total: progress.update(task, completed=done, total=total)


def print_run_summary(summary: Mapping[str, Any]) -> None:
    """Stage table (median ms, % of total) and the headline figures of one run."""
    console.print(f"[bold]avbench · {summary['run_name']}[/]", soft_wrap=True)
    table = Table()
    table.add_column("stage")
    table.add_column("median ms", justify="right")
    table.add_column("% of total", justify="right")
    for name, ms in summary["stage_ms"].items():
        table.add_row(name, f"{ms:,.1f}", f"{summary['stage_pct'][name]:.1f}")
    table.add_row("[bold]total[/]", f"[bold]{summary['total_ms']:,.1f}[/]", "100.0")
    console.print(table)
    for label, value in summary["lines"]:
        console.print(f"  {label:<18} {value}", soft_wrap=True)


def print_load_summary(run_name: str, lines: list[tuple[str, str]], run_id: str | None) -> None:
    """The headline lines of a load scenario's run."""
    console.print(f"[bold]avbench · {run_name}[/]", soft_wrap=True)
    for label, value in [*lines, *([("mlflow run", run_id)] if run_id else [])]:
        console.print(f"  {label:<20} {value}", soft_wrap=True)


def print_sweep_summary(results: list[RunResult], wall_s: float, parent_run_id: str | None,
                        uri: str | None = None, notes: list[str] | None = None) -> None:
    """The sweep's cells as read back from the store, one row each, and what went wrong."""
    table = Table(title=f"sweep · {len(results)} cells · {wall_s:.1f} s", title_justify="left")
    for column in ("cell", "status", "validity", "rtf", "cv", "backend", "parity", "cores",
                   "run id", "error / reasons"):
        table.add_column(column)
    for r in results:
        rtf = f"{r.metrics['rtf']:.3f}" if "rtf" in r.metrics else "-"
        cv = f"{100 * r.metrics['rtf.cv']:.1f} %" if "rtf.cv" in r.metrics else "-"
        validity = r.tags.get("validity", "-")
        reasons = r.tags.get("validity.reasons", "") if r.ok else ""
        table.add_row(r.name, _status_text(r),
                      "[red]INVALID[/]" if validity == "INVALID" else validity, rtf, cv,
                      _backend_text(r.tags),
                      {"true": "pass", "false": "[red]FAIL[/]"}.get(r.tags.get("parity.pass", ""),
                                                                   "-"),
                      r.tags.get("bench.cpu_affinity", "-"), r.run_id or "-",
                      (r.error or reasons or r.tags.get("backend.fallback_reason", ""))[:80])
    # Names and run ids never truncate: a narrow (or non-tty) console gets the full width.
    Console(highlight=False, width=max(console.width, 200)).print(table)
    for cell, cpu_rtf, gpu_rtf, speedup in cpu_gpu_speedups(results):
        console.print(f"  CPU vs GPU  {cell}: RTF {cpu_rtf:.3f} -> {gpu_rtf:.3f} "
                      f"({speedup:.1f}x faster on the GPU)", soft_wrap=True)
    for note in notes or []:
        console.print(f"  [yellow]warning:[/] {note}", soft_wrap=True)
    if any("same time on core" in note for note in notes or []):
        console.print("  [yellow]cells shared cores while timed: compare their figures with "
                      "care (pin them: sweep.pin=true, or run fewer at once)[/]", soft_wrap=True)
    reused = sum("avbench.resumed_from" in r.tags for r in results)
    if reused:
        console.print(f"  resume: {reused} of {len(results)} cells reused a FINISHED run")
    if parent_run_id:
        ui = "mlflow ui" + (f" --backend-store-uri {uri}" if uri else "")
        console.print(f"  parent run {parent_run_id}  (open with: {ui})", soft_wrap=True)
    failed = [r for r in results if not r.ok]
    lost = [r.name for r in failed if r.status == LOST]
    if lost:
        console.print(f"[red]{len(lost)} cells lost (never reported): {', '.join(lost)}[/]",
                      soft_wrap=True)
    if failed:
        console.print(f"[red]{len(failed)} of {len(results)} cells failed[/]")


def _status_text(result: RunResult) -> str:
    if result.ok:
        return "[green]reused[/]" if "avbench.resumed_from" in result.tags else "[green]FINISHED[/]"
    return f"[red]{result.status}[/]"


def _backend_text(tags: Mapping[str, str]) -> str:
    """requested -> effective when they differ (a recorded fallback), else the backend."""
    requested = tags.get("backend.requested", "-")
    effective = tags.get("backend.effective", requested)
    return requested if effective == requested else f"{requested} -> {effective}"


def print_line(text: str) -> None:
    console.print(text, soft_wrap=True)


def print_kernel_table(run_name: str, rows: list[dict[str, Any]], threads: int,
                       device: str) -> None:
    """task=kernels: one row per family x implementation, speed and accuracy side by side."""
    table = Table(title=f"avbench · {run_name} · {device} · {threads} thread(s)",
                  title_justify="left")
    for column in ("family", "impl", "audio s", "median ms", "IQR ms", "x torch", "GFLOP/s",
                   "accuracy"):
        table.add_column(column, justify="left" if column in ("family", "impl") else "right",
                         no_wrap=True)
    for row in rows:
        if row["interpreted"]:
            speed = ["[yellow]not speed[/]", "-"]
        else:
            speed = [f"{row.get('speedup_vs_torch', 1.0):.2f}",
                     f"{row['gflops']:,.1f}" if "gflops" in row else "-"]
        table.add_row(row["family"], row["impl"], f"{row['audio_s']:g}",
                      f"{row['median_ms']:,.2f}", f"{row['iqr_ms']:,.2f}", *speed,
                      _accuracy_text(row))
    # Rows never wrap: a narrow (or non-tty, 80-column) console gets the table at full width.
    Console(highlight=False, width=max(console.width, 130)).print(table)
    console.print("  x torch = speed relative to our torch path (time per audio second); "
                  "accuracy: max abs error vs float64 torch (log units for log_mel), or pitch "
                  "RMSE over reference-voiced frames / RPA(50c) on the labelled song",
                  soft_wrap=True)


def _accuracy_text(row: Mapping[str, Any]) -> str:
    if "max_abs_err" in row:
        return f"max err {row['max_abs_err']:.1e} (rel {row['max_rel_err']:.0e})"
    if "pitch_rmse_ref_voiced_hz" in row:
        return (f"RMSE {row['pitch_rmse_ref_voiced_hz']:.2f} Hz "
                f"RPA {row['pitch_rpa_50c']:.3f}")
    return "-"
