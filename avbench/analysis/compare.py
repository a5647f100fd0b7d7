"""Pivots, speed-ups with bootstrap CIs, cross-hardware tables and regression detection.

Statistics come from scipy.stats (bootstrap, mannwhitneyu); this module only
decides what to compare with what.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from avbench.analysis import bands, cells
from avbench.analysis.cells import Stability, identity_columns, refusal, rtf_samples, stability
from avbench.analysis.quality import FIDELITY
from avbench.analysis.runs import (
    CONFIG_GROUPS,
    AnalysisError,
    group_columns,
    total_ms_samples,
    valid_runs,
)
from avbench.measure.stats import speedup

SLOWER, FASTER, UNCHANGED = "slower", "faster", "unchanged"
INCONCLUSIVE = "inconclusive"  # a side was unstable: the change may be noise


def pivot(frame: pd.DataFrame, metric: str = "rtf", rows: Sequence[str] = ("preset",),
          columns: Sequence[str] = ("precision",), by: str | None = "hardware",
          aggfunc: str = "median") -> pd.DataFrame:
    """``metric`` by ``rows`` x ``columns`` (median over runs), one block of rows per ``by``."""
    frame = with_hardware(frame)
    index = ([by] if by else []) + list(rows)
    return frame.pivot_table(values=metric, index=index, columns=list(columns),
                             aggfunc=aggfunc)


def with_hardware(frame: pd.DataFrame) -> pd.DataFrame:
    """Add a readable ``hardware`` column: the GPU name, or ``CPU <model>`` for CPU runs."""
    frame = frame.copy()
    on_gpu = frame.get("device", pd.Series("", index=frame.index)).astype(str).str.startswith("cuda")
    frame["hardware"] = np.where(on_gpu, frame["gpu_name"].astype(str),
                                 "CPU " + frame["cpu_model"].astype(str))
    return frame


@dataclass(frozen=True)
class Change:
    """How a cell's per-repeat time moved from baseline to candidate."""

    change_pct: float  # median(candidate) vs median(baseline); + is slower
    p_value: float  # two-sided Mann-Whitney U
    verdict: str  # slower | faster | unchanged
    min_p_value: float  # the smallest p these sample sizes can give (exact test)


def classify(baseline_ms: np.ndarray, candidate_ms: np.ndarray, threshold_pct: float = 5.0,
             alpha: float = 0.01) -> Change:
    """A change counts only when it is both significant (p < alpha) and larger than the
    threshold: tiny but consistent shifts are noise to a user, big but erratic ones too."""
    baseline = np.asarray(baseline_ms, dtype=float)
    candidate = np.asarray(candidate_ms, dtype=float)
    change_pct = 100.0 * (np.median(candidate) / np.median(baseline) - 1.0)
    p_value = float(stats.mannwhitneyu(candidate, baseline, alternative="two-sided").pvalue)
    verdict = UNCHANGED
    if p_value < alpha and change_pct > threshold_pct:
        verdict = SLOWER
    elif p_value < alpha and change_pct < -threshold_pct:
        verdict = FASTER
    min_p = min(1.0, 2.0 / math.comb(baseline.size + candidate.size, baseline.size))
    return Change(float(change_pct), p_value, verdict, min_p)


@dataclass(frozen=True)
class CellChange:
    cell: str
    hardware_key: str
    baseline_runs: int
    candidate_runs: int
    baseline_ms: float
    candidate_ms: float
    baseline_rtf: float  # the change is computed on per-repeat RTF (time per audio second)
    candidate_rtf: float
    speedup: float
    speedup_ci_low: float
    speedup_ci_high: float
    change: Change
    baseline_side: Stability
    candidate_side: Stability
    verdict: str  # the change's verdict, or inconclusive when a side was unstable

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        change = record.pop("change")
        change["measured_verdict"] = change.pop("verdict")
        sides = {f"{side}_{k}": v for side in ("baseline", "candidate")
                 for k, v in record.pop(f"{side}_side").items()}
        return record | change | sides


def match_key(baseline: pd.DataFrame, candidate: pd.DataFrame,
              across: Sequence[str] = ()) -> list[str]:
    """Columns a baseline and a candidate must share to be the same cell: the resolved
    identity (``avbench.analysis.cells``) but the fields of the groups compared ``across``
    (e.g. ``["backend"]`` for an A/B of two backends)."""
    unknown = sorted(set(across) - set(CONFIG_GROUPS))
    if unknown:
        raise AnalysisError(f"cannot compare across {', '.join(unknown)}: "
                            f"valid groups are {', '.join(CONFIG_GROUPS)}")
    return [c for c in identity_columns(baseline, across) if c in candidate.columns]


def detect_regressions(client: Any, baseline: pd.DataFrame, candidate: pd.DataFrame,
                       threshold_pct: float = 5.0, alpha: float = 0.01,
                       across: Sequence[str] = (), gate_unstable: bool = False,
                       ) -> list[CellChange]:
    """Every cell finished in both, matched on the resolved identity (but the groups
    ``across``), classified on per-repeat RTF (runs of one cell on one side are pooled). A
    cell with an unstable side (or one INVALID for noise alone) is ``inconclusive`` unless
    ``gate_unstable``; runs INVALID for any other reason are left out (``unmatched`` names
    them), and when no cell is left to compare that is an error saying why."""
    key = match_key(baseline, candidate, across)
    (baseline, left_base), (candidate, left_cand) = (
        cells.comparable(_finished(frame, key)) for frame in (baseline, candidate))
    for side, frame in (("baseline", baseline), ("candidate", candidate)):
        _one_value_per_cell(side, frame, key, across)
    candidate_groups = candidate.groupby(key).groups
    # Cells are labelled by the groups that vary, as in the sweep's own summary.
    groups = group_columns(baseline)
    varying = [c for c in groups if baseline[c].nunique(dropna=False) > 1]
    changes = []
    for values, baseline_index in baseline.groupby(key).groups.items():
        if values not in candidate_groups:
            continue
        base = baseline.loc[baseline_index]
        cand = candidate.loc[candidate_groups[values]]
        (base_ms, base_rtf), (cand_ms, cand_rtf) = (_samples(client, runs) for runs in
                                                    (base, cand))
        spread = speedup(base_rtf, cand_rtf)
        change = classify(base_rtf, cand_rtf, threshold_pct, alpha)
        sides = stability(base), stability(cand)
        unstable = sides[0].unstable or sides[1].unstable
        changes.append(CellChange(
            cell=_label(base.iloc[0], varying, str(base.iloc[0]["run_name"])),
            hardware_key=str(base.iloc[0].get("hardware_key")), baseline_runs=len(base),
            candidate_runs=len(cand), baseline_ms=float(np.median(base_ms)),
            candidate_ms=float(np.median(cand_ms)), baseline_rtf=float(np.median(base_rtf)),
            candidate_rtf=float(np.median(cand_rtf)), speedup=spread.ratio,
            speedup_ci_low=spread.ci_low, speedup_ci_high=spread.ci_high, change=change,
            baseline_side=sides[0], candidate_side=sides[1],
            verdict=INCONCLUSIVE if unstable and not gate_unstable else change.verdict))
    if not changes:
        left = [f"{side} {name} INVALID: {why}" for side, frame in
                (("baseline", left_base), ("candidate", left_cand))
                for name, why in zip(frame["run_name"], frame["validity_reasons"], strict=True)]
        raise AnalysisError(refusal(baseline, candidate, key, across)
                            + (f"; left out: {'; '.join(left)}" if left else ""))
    return changes


def unmatched(baseline: pd.DataFrame, candidate: pd.DataFrame,
              across: Sequence[str] = ()) -> list[str]:
    """Finished baseline cells that were not compared, each with why: a side INVALID (a
    failed gate, LoadGen's INVALID...), or how it differs from the nearest candidate run. A
    cell that failed or was dropped in the candidate is not a speed change, but a gate
    should say so."""
    key = match_key(baseline, candidate, across)
    usable_candidate, invalid_candidate = cells.comparable(_finished(candidate, key))
    done = set(usable_candidate[key].apply(tuple, axis=1))
    finished = _finished(baseline, key)
    usable_baseline, _ = cells.comparable(finished)
    missing = finished[~finished[key].apply(tuple, axis=1).isin(done)
                       | ~finished.index.isin(usable_baseline.index)]
    invalid_by_key = {tuple(row[key]): row["validity_reasons"]
                      for _, row in invalid_candidate.iterrows()}
    notes = []
    for index, row in missing.iterrows():
        if index not in usable_baseline.index:
            why = [f"baseline INVALID: {row['validity_reasons']}"]
        elif tuple(row[key]) in invalid_by_key:
            why = [f"candidate INVALID: {invalid_by_key[tuple(row[key])]}"]
        else:
            why = cells.nearest_difference(row, usable_candidate, key)
        notes.append(f"{row['run_name']}" + (f" ({', '.join(why)})" if why else ""))
    return notes


def _samples(client: Any, runs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Pooled per-repeat total ms and RTF of the runs of one side of a cell."""
    by_run = total_ms_samples(client, runs["run_id"])
    durations = runs.get("id.audio_duration_s", pd.Series([None] * len(runs),
                                                           index=runs.index))
    try:
        rtf = [rtf_samples(ms, duration) for ms, duration in zip(by_run.values(), durations,
                                                                 strict=True)]
    except ValueError:
        raise AnalysisError(f"run {runs['run_id'].iloc[0]} recorded no audio duration: "
                            "compare runs made by this version of avbench") from None
    return np.concatenate(list(by_run.values())), np.concatenate(rtf)


def _one_value_per_cell(side: str, frame: pd.DataFrame, key: list[str],
                        across: Sequence[str]) -> None:
    """Runs pooled into one cell must agree on the groups compared across."""
    for group in (g for g in across if g in frame.columns):
        values = frame.groupby(key)[group].nunique(dropna=False)
        if (values > 1).any():
            found = ", ".join(sorted(frame[group].astype(str).unique()))
            raise AnalysisError(f"the {side} holds several {group} values per cell ({found}) "
                                f"while comparing across {group}: pass one {group} per side")


def across_values(frame: pd.DataFrame, across: Sequence[str]) -> dict[str, list[str]]:
    """The values each compared-across group takes among the finished runs of one side."""
    finished = frame[frame["status"] == "FINISHED"]
    return {g: sorted(finished[g].astype(str).unique()) for g in across if g in finished}


def _finished(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Finished runs with the key as strings: a value a run lacks (NaN) still matches."""
    finished = frame[frame["status"] == "FINISHED"].copy()
    finished[key] = finished[key].astype(object).fillna("none").astype(str)
    return finished


def _label(labels: Any, varying: list[str], run_name: str) -> str:
    return " ".join(f"{k}={labels[k]}" for k in varying) or run_name


def changes_frame(changes: list[CellChange]) -> pd.DataFrame:
    return pd.DataFrame([c.as_dict() for c in changes])


# Groups that say where a run ran (the rows' hardware), not what it measured.
HARDWARE_GROUPS = ("gpu",)


def hardware_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Cross-hardware aggregation of the VALID runs: one row per hardware and per value of
    every axis that differs among them (preset, precision, backend, ...: an fp32 and a bf16
    cell are never one row), with median RTF, peak memory, pitch RMSE, vocals SI-SDR, the
    fidelity to the fp32 eager reference and, for GPU rows, the speed-up over the CPU runs
    of the same cell."""
    frame = with_hardware(valid_runs(frame))
    axes = [c for c in group_columns(frame) if c not in HARDWARE_GROUPS
            and frame[c].nunique(dropna=False) > 1]
    frame[axes] = frame[axes].astype(object).fillna("-").astype(str)
    metrics = {m: "median" for m in ("rtf", "pitch_rmse_hz", "f0_clean.pitch_rmse_hz",
                                     "quality.vocals_si_sdr_db", FIDELITY)
               if m in frame.columns}
    for metric in metrics:  # a figure on a seeded path is not aggregated (bands.ungraded)
        frame[metric] = bands.graded_values(frame, metric)
    if "memory_peak_mb" in frame.columns:
        metrics["memory_peak_mb"] = "max"
    table = frame.groupby(["hardware", "device", *axes], as_index=False).agg(
        runs=("run_id", "size"), **{m.replace(".", "_"): (m, how) for m, how in metrics.items()})
    on_cpu = table["device"].astype(str) == "cpu"
    if axes:
        cpu_rtf = table[on_cpu].groupby(axes)["rtf"].median()
        same_cell = table[axes].apply(tuple, axis=1) if len(axes) > 1 else table[axes[0]]
        cpu_of_cell = same_cell.map(cpu_rtf)
    else:
        cpu_of_cell = pd.Series(table.loc[on_cpu, "rtf"].median(), index=table.index)
    table["cpu_vs_gpu_speedup"] = np.where(on_cpu, np.nan, cpu_of_cell / table["rtf"])
    return table


def pareto_front(frame: pd.DataFrame, speed: str = "rtf",
                 quality: str = "pitch_rmse_hz", higher_is_better: bool = False) -> pd.Series:
    """True for runs no other run beats on both ``speed`` (lower is better) and ``quality``
    (lower is better unless ``higher_is_better``)."""
    points = frame[[speed, quality]].to_numpy(dtype=float, copy=True)
    if higher_is_better:
        points[:, 1] = -points[:, 1]
    valid = ~np.isnan(points).any(axis=1)
    front = np.zeros(len(points), dtype=bool)
    for i in np.flatnonzero(valid):
        others = points[valid]
        dominated = ((others <= points[i]).all(axis=1) & (others < points[i]).any(axis=1)).any()
        front[i] = not dominated
    return pd.Series(front, index=frame.index, name="pareto")


def to_markdown(frame: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub markdown table (pandas' own needs the optional tabulate package)."""
    frame = frame.reset_index() if not isinstance(frame.index, pd.RangeIndex) else frame
    columns = [" / ".join(map(str, c)) if isinstance(c, tuple) else str(c)
               for c in frame.columns]

    def cell(value: Any) -> str:
        if isinstance(value, float | np.floating):
            return "-" if np.isnan(value) else f"{value:,.{digits}f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in frame.itertuples(index=False)]
    return "\n".join(lines)
