"""What a person sees: phase progress, the run summary and the sweep summary."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from avbench.journal import FAILED, KILLED, LOST, RunResult, cpu_gpu_speedups

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


def sig(value: float, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits: 0.1234, 12.35, 1,235, 1.748e-05 (a
    sub-millisecond figure keeps its digits instead of printing as 0.000)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude < -3 or magnitude >= 7:
        return f"{value:.{digits - 1}e}"
    return f"{value:,.{max(digits - 1 - magnitude, 0)}f}"


def ms_text(ms: float) -> str:
    """Milliseconds for a table: one decimal from 100 ms up, four significant digits below."""
    return f"{ms:,.1f}" if ms >= 100 else sig(ms)


def verdict_line(run_name: str, verdict: str) -> str:
    """The first summary line: ``avbench · <name> · VALID`` or ``... · INVALID: <reasons>``."""
    colour = "green" if verdict == "VALID" else "red"
    return f"[bold]avbench · {run_name} ·[/] [bold {colour}]{escape(verdict)}[/]"


def print_run_summary(summary: Mapping[str, Any]) -> None:
    """The verdict, the stage table (median ms, % of total) and the headline figures."""
    console.print(verdict_line(summary["run_name"], summary.get("verdict", "not judged")),
                  soft_wrap=True)
    table = Table()
    table.add_column("stage")
    table.add_column("median ms", justify="right")
    table.add_column("% of total", justify="right")
    for name, ms in summary["stage_ms"].items():
        table.add_row(name, ms_text(ms), f"{summary['stage_pct'][name]:.1f}")
    table.add_row("[bold]total[/]", f"[bold]{ms_text(summary['total_ms'])}[/]", "100.0")
    console.print(table)
    width = max((len(label) for label, _ in summary["lines"]), default=0)
    for label, value in summary["lines"]:  # two spaces at least between label and value
        console.print(f"  {label:<{width}}  {value}", soft_wrap=True)


def print_load_summary(run_name: str, lines: list[tuple[str, str]], run_id: str | None,
                       verdict: str = "not judged") -> None:
    """The verdict and the headline lines of a load scenario's run."""
    console.print(verdict_line(run_name, verdict), soft_wrap=True)
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
    for line in outcome_lines(results):
        console.print(f"[red]{line}[/]", soft_wrap=True)


def outcome_lines(results: list[RunResult]) -> list[str]:
    """The cells that did not finish, each counted once: lost (no run reported, or its
    worker died mid-cell), killed (by a signal) or failed."""
    groups = {LOST: "lost", KILLED: "killed", FAILED: "failed"}
    lines = []
    for status, word in groups.items():
        names = [r.name for r in results if r.status == status]
        if names:
            lines.append(f"{len(names)} of {len(results)} cells {word}"
                         + (f": {', '.join(names)}" if status != FAILED else ""))
    return lines


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
                       device: str, verdict: str = "not judged") -> None:
    """task=kernels: the verdict, then one row per family x implementation, speed and
    accuracy side by side."""
    console.print(verdict_line(run_name, verdict), soft_wrap=True)
    table = Table(title=f"{device} · {threads} thread(s)", title_justify="left")
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
                      ms_text(row["median_ms"]), ms_text(row["iqr_ms"]), *speed,
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
