"""A markdown report of a sweep (or a single run): environment, cells, stages, bands, plots."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from avbench.analysis import bands, plots
from avbench.analysis.compare import hardware_table, to_markdown, with_hardware
from avbench.analysis.data_section import data_section
from avbench.analysis.quality import spreads
from avbench.analysis.runs import (
    AnalysisError,
    get_run,
    invalid_runs,
    is_sweep,
    resolve_runs,
    total_ms_samples,
    valid_runs,
)

CELL_METRICS = {
    "rtf": "RTF", "rtf.ci_low": "RTF CI low", "rtf.ci_high": "RTF CI high", "asps": "ASPS",
    "latency_ms.p50": "p50 ms", "latency_ms.p95": "p95 ms", "memory_peak_mb": "peak MB",
    "pitch_rmse_hz": "pitch RMSE Hz", "f0_clean.pitch_rmse_hz": "clean-stem RMSE Hz",
    "repeats": "repeats",
}
BACKEND_COLUMNS = {
    "backend_effective": "effective", "neural_ms": "neural ms",
    "component_ms": "in components ms", "cold.export_s": "export s",
    "cold.build_s": "build s", "cold.load_s": "load s", "cold.first_call_s": "first call s",
    "backend_cache": "cache", "parity_pass": "parity", "backend_fallback": "fallback",
}
ENVIRONMENT_TAGS = ("hardware.gpu_name", "hardware.cpu_model", "hardware.cpu_cores", "device",
                    "cuda.version", "version.torch", "version.triton", "version.onnxruntime",
                    "version.mlflow", "version.avbench", "git.sha", "git.dirty")


@dataclass
class Report:
    run_id: str  # the sweep parent (or the single run) the report describes
    markdown: Path
    plots: list[Path]
    frame: pd.DataFrame
    tables: list[Path]  # JSON tables written beside the markdown


def cell_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: status, verdict, RTF with its CV, parity, the headline figures, and
    the reasons of an INVALID verdict (or a failure's error)."""
    columns = [c for c in CELL_METRICS if c in frame.columns]
    table = frame[["cell", "status", *columns]].rename(columns=CELL_METRICS)
    table.insert(2, "run", frame["run_id"].str[:8])
    table.insert(3, "validity", frame.get("validity", pd.Series("-", index=frame.index)))
    cv = 100 * frame.get("rtf.cv", pd.Series(float("nan"), index=frame.index)).astype(float)
    table.insert(5 if "RTF" in table.columns else 4, "CV %",
                 cv.map(lambda pct: "-" if pd.isna(pct) else f"{pct:.1f}"))
    if "repeats" in table.columns:
        table["repeats"] = table["repeats"].map(lambda n: "-" if pd.isna(n) else str(int(n)))
    parity = frame.get("parity_pass", pd.Series(None, index=frame.index))
    table["parity"] = parity.map({"true": "pass", "false": "FAIL"}).fillna("-")
    reasons = frame.get("validity_reasons", pd.Series("", index=frame.index)).fillna("")
    errors = frame.get("error", pd.Series("", index=frame.index)).fillna("").astype(str)
    failed = frame["status"] != "FINISHED"
    table["reasons"] = [(error.splitlines() or [""])[0][:120] if down else reason
                        for down, reason, error in zip(failed, reasons, errors, strict=True)]
    return table


def backend_table(frame: pd.DataFrame) -> pd.DataFrame:
    """What ran each cell, its cold start, the neural-stage time and the parity verdict."""
    columns = [c for c in BACKEND_COLUMNS if c in frame.columns]
    return frame[["cell", *columns]].rename(columns=BACKEND_COLUMNS).fillna("-")


def stage_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Median ms and share of total per stage, one row per cell."""
    stages = plots.stage_columns(frame)
    table = frame[["cell"]].copy()
    for column in stages:
        stage = column.removeprefix("stage_ms.")
        table[f"{stage} ms"] = frame[column]
        if f"stage_pct.{stage}" in frame.columns:
            table[f"{stage} %"] = frame[f"stage_pct.{stage}"]
    return table


def interpretation(frame: pd.DataFrame) -> pd.DataFrame:
    """Each headline metric of each finished cell in its band."""
    rows = []
    for _, run in frame[frame["status"] == "FINISHED"].iterrows():
        on_gpu = str(run.get("device", "")).startswith("cuda")
        for band in bands.HEADLINE:
            if band is bands.GPU_MEMORY and not on_gpu:
                continue
            value = run.get(band.metric)
            verdict = None if value is None else (bands.ungraded(run, band.metric)
                                                  or band.of(float(value)))
            if verdict is not None:
                rows.append({"cell": run["cell"], "metric": band.label,
                             "value": f"{float(value) * band.scale:.3g} {band.unit}".strip(),
                             "band": verdict})
        util = run.get(bands.GPU_UTIL_METRIC)
        if util is not None and bands.gpu_util_band(float(util)) is not None:
            rows.append({"cell": run["cell"], "metric": "GPU utilisation",
                         "value": f"{float(util):.0f} %", "band": bands.gpu_util_band(float(util))})
    return pd.DataFrame(rows, columns=["cell", "metric", "value", "band"])


def environment_table(client: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """One column per hardware key, rows from the tags of its first run."""
    columns = {}
    for key, runs in frame.groupby("hardware_key"):
        tags = client.get_run(runs["run_id"].iloc[0]).data.tags
        columns[key] = {tag: tags.get(tag, "-") for tag in ENVIRONMENT_TAGS}
    table = pd.DataFrame(columns)
    table.index.name = "hardware key"
    return table


def render(client: Any, subject: Any, frame: pd.DataFrame, plot_paths: list[Path],
           base: Path) -> str:
    tags = subject.data.tags
    finished = frame[frame["status"] == "FINISHED"]
    invalid = invalid_runs(frame)
    kind = "sweep" if is_sweep(subject) else "run"
    lines = [f"# avbench report: {subject.info.run_name}", "",
             f"{kind} `{subject.info.run_id}` · {len(frame)} cells · "
             f"{len(frame) - len(finished)} failed · {len(invalid)} INVALID · generated "
             f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}"]
    if tags.get("avbench.sweep.overrides"):
        lines.append(f"\n`python -m avbench -m {tags['avbench.sweep.overrides']}`")
    lines += ["", "## Environment", "", to_markdown(environment_table(client, frame)), "",
              "## Cells", "", "CV: the RTF's coefficient of variation between repeats. "
              "Summaries below (best cell, hardware table, Pareto front) use VALID cells "
              "only.", "", to_markdown(cell_table(frame), digits=3), ""]
    if not finished.empty and plots.stage_columns(finished):
        lines += ["## Stage breakdown (median ms, % of total)", "",
                  to_markdown(stage_table(finished), digits=1), ""]
    if not finished.empty and "cold.load_s" in finished.columns:
        lines += ["## Backends (cold start apart from steady state)", "",
                  to_markdown(backend_table(finished), digits=2), ""]
    lines += summary_section(frame) + quality_section(frame) + data_section(client, frame)
    lines += ["## Interpretation", "",
              "Bands: RTF < 0.5 excellent, 0.5–1 good, 1–2 fair, > 2 poor; pitch RMSE < 5 Hz "
              "excellent, 5–10 good, 10–20 fair, > 20 poor; GPU memory peak < 4 GB excellent, "
              "4–6 good, 6–8 fair, > 8 poor (GPU runs only: CPU runs record process RSS); GPU "
              "utilisation > 70 % good, 50–70 % fair, < 50 % poor (bottleneck elsewhere).", "",
              to_markdown(interpretation(frame)), ""]
    lines += problems_section(frame)
    if plot_paths:
        lines += ["## Plots", ""]
        lines += [f"![{p.stem}]({p.relative_to(base).as_posix()})" for p in plot_paths]
    return "\n".join(lines) + "\n"


def summary_section(frame: pd.DataFrame) -> list[str]:
    """The cross-hardware table and the best cell, from the VALID cells only."""
    if "rtf" not in frame.columns or frame[frame["status"] == "FINISHED"]["rtf"].isna().all():
        return []
    valid = valid_runs(frame).dropna(subset=["rtf"])
    if valid.empty:
        return ["## Across hardware", "", "No VALID cell: no best cell, no hardware table "
                "(see the INVALID cells and their reasons below).", ""]
    best = valid.loc[valid["rtf"].idxmin()]
    return ["## Across hardware (VALID cells)", "", to_markdown(hardware_table(frame)), "",
            f"Best cell (VALID cells only): **{best['cell']}** (RTF {best['rtf']:.3f}); "
            f"median RTF of the VALID cells {valid['rtf'].median():.3f}.", ""]


def quality_section(frame: pd.DataFrame) -> list[str]:
    """Each quality axis over the VALID cells: its range, noise, and whether it trades off."""
    valid = valid_runs(frame)
    found = spreads(valid.dropna(subset=["rtf"])) if "rtf" in valid.columns else []
    if not found:
        return []
    return ["## Speed against quality", "",
            *[f"- {spread.text}" for spread in found], ""]


def problems_section(frame: pd.DataFrame) -> list[str]:
    """The INVALID cells with their reasons, then the cells that did not finish."""
    lines = []
    invalid = invalid_runs(frame)
    if not invalid.empty:
        lines += ["## INVALID cells (left out of every summary)", ""]
        lines += [f"- {r.cell}: {r.validity_reasons}" for r in invalid.itertuples()]
        lines.append("")
    failed = frame[frame["status"] != "FINISHED"]
    if not failed.empty:
        lines += ["## Failures", ""] + [f"- {r.cell}: {r.error}" for r in failed.itertuples()]
        lines.append("")
    return lines


def sweep_frame(client: Any, run_or_sweep: str) -> pd.DataFrame:
    """The runs of a sweep (or the single run) in start order with a hardware column; what
    the report and the notebook both tabulate. A sweep with no run at all is an error; one
    whose cells all failed is not (its failures are the report)."""
    frame = resolve_runs(client, run_or_sweep)
    if frame.empty:
        raise AnalysisError(f"sweep {run_or_sweep} has no runs yet")
    return with_hardware(frame).sort_values("start_time").reset_index(drop=True)


def failures(frame: pd.DataFrame) -> list[str]:
    """One line per cell that did not finish: its label, status and error."""
    failed = frame[frame["status"] != "FINISHED"]
    return [f"{r.cell}: {r.status} {r.error or ''}".rstrip() for r in failed.itertuples()]


def build_report(client: Any, run_or_sweep: str, out_dir: Path) -> Report:
    """Write ``report.md`` and its plots under ``out_dir``; nothing is logged here."""
    subject = get_run(client, run_or_sweep)
    frame = sweep_frame(client, run_or_sweep)
    finished = frame[frame["status"] == "FINISHED"]
    timed = finished[finished["rtf"].notna()] if "rtf" in finished else finished.iloc[:0]
    samples = {row.cell: ms for row, ms in zip(
        timed.itertuples(), total_ms_samples(client, timed["run_id"]).values(), strict=True)}
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_paths = plots.sweep_plots(frame, samples, out_dir / "plots")
    markdown = out_dir / "report.md"
    markdown.write_text(render(client, subject, frame, plot_paths, out_dir))
    # The cross-hardware table (VALID cells) also as JSON, for dashboards and other tools.
    valid = valid_runs(frame)
    tables = ([out_dir / "hardware.json"] if "rtf" in valid and valid["rtf"].notna().any()
              else [])
    for path in tables:
        path.write_text(hardware_table(frame).to_json(orient="records", indent=2) + "\n")
    return Report(subject.info.run_id, markdown, plot_paths, frame, tables)


def report_dir(subject: Any, fallback: Path) -> Path:
    """Next to the sweep's output (``<sweep dir>/report``) when that directory is here;
    else ``fallback`` (the sweep dir is recorded relative to where the sweep ran)."""
    sweep_dir = subject.data.tags.get("avbench.sweep.dir")
    if sweep_dir and Path(sweep_dir).is_dir():
        return Path(sweep_dir) / "report"
    return fallback
