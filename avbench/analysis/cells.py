"""What makes two runs the same cell: resolved values, not the names of config options.

``audio=1s audio.duration_s=4`` is a 4 s run whatever the option is called, so a
baseline and a candidate are matched on what each run recorded it measured: the
audio duration (the ``audio_duration_s`` metric) and sample rate, the pipeline,
preset and precision (dtype), the effective backend and kernel, the scenario and
the hardware key. A group compared ``across`` (``task.across=[audio]``) leaves its
fields out of the match; across audio lengths the times are compared per second of
audio (RTF), never as milliseconds. Each side of a cell also carries its stability
(RTF CV, the ``bench.unstable`` tag, the noise reasons of an INVALID verdict) and the git
commits it ran; a run INVALID for any other reason (a failed gate, LoadGen's INVALID) is
left out of the comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from avbench.analysis.validity import VALID, noise_only

# Identity column -> the config group that sets it (what `across` names).
IDENTITY = {
    "id.hardware": "gpu", "id.audio_duration_s": "audio", "id.audio_sample_rate": "audio",
    "id.audio_file": "audio", "id.pipeline": "pipeline", "id.preset": "preset",
    "id.precision": "precision", "id.backend": "backend", "id.kernel": "kernel",
    "id.scenario": "scenario",
}
_PARAMS = {"id.audio_sample_rate": "audio.sample_rate", "id.audio_file": "audio.path",
           "id.pipeline": "pipeline.name", "id.preset": "preset.name",
           "id.precision": "precision.dtype", "id.scenario": "scenario.name"}
_TAGS = {"id.hardware": "hardware.key", "id.backend": "backend.effective",
         "id.kernel": "kernel.effective"}


def identity(params: Mapping[str, str], tags: Mapping[str, str],
             metrics: Mapping[str, float]) -> dict[str, str | None]:
    """The identity columns of one run, from what it recorded (None: not recorded)."""
    row: dict[str, str | None] = {column: params.get(key) for column, key in _PARAMS.items()}
    row |= {column: tags.get(key) for column, key in _TAGS.items()}
    duration = metrics.get("audio_duration_s", params.get("audio.duration_s"))
    row["id.audio_duration_s"] = None if duration is None else f"{float(duration):g}"
    return row


def identity_columns(frame: pd.DataFrame, across: Sequence[str] = ()) -> list[str]:
    """The identity columns two runs must agree on to be one cell (those the frame has)."""
    return [c for c, group in IDENTITY.items() if c in frame.columns and group not in across]


def differences(baseline: Mapping[str, Any], candidate: Mapping[str, Any],
                columns: Sequence[str]) -> list[str]:
    """``audio duration_s 1 vs 4``: each identity value on which two runs differ."""
    return [f"{_label(c)} {baseline[c]} vs {candidate[c]}" for c in columns
            if str(baseline[c]) != str(candidate[c])]


def nearest_difference(row: Mapping[str, Any], others: pd.DataFrame,
                       columns: Sequence[str]) -> list[str]:
    """How ``row`` differs from the run of ``others`` it is closest to (fewest differences)."""
    found = [differences(row, other, columns) for _, other in others.iterrows()]
    return min(found, key=len) if found else []


@dataclass(frozen=True)
class Stability:
    """One side of a cell: its worst run's RTF coefficient of variation, whether any of its
    runs was unstable (tagged ``bench.unstable``, or INVALID for noise alone: ``reasons``),
    and the git commits it ran."""

    cv: float
    unstable: bool
    git: str
    reasons: str = ""  # the noise reasons of its INVALID runs ("cv 47.9 % > 10 %")


def stability(runs: pd.DataFrame) -> Stability:
    """The stability of one side of a cell (its runs)."""
    cv = float(runs["rtf.cv"].max()) if "rtf.cv" in runs else float("nan")
    unstable = bool((runs.get("unstable", pd.Series(dtype=str)).astype(str) == "true").any())
    invalid = runs[runs.get("validity", pd.Series(VALID, index=runs.index)) != VALID]
    reasons = "; ".join(sorted(set(invalid.get("validity_reasons", pd.Series(dtype=str))
                                   .dropna().astype(str))))
    shas = runs.get("git_sha", pd.Series(dtype=str)).dropna().astype(str)
    dirty = (runs.get("git_dirty", pd.Series(dtype=str)).astype(str) == "true").any()
    git = ", ".join(sorted({sha[:10] for sha in shas})) or "unknown"
    return Stability(cv, unstable or not invalid.empty, git + (" (dirty)" if dirty else ""),
                     reasons)


def comparable(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The runs a comparison may use (VALID, or INVALID for noise alone: their cell is then
    inconclusive) and those it leaves out (INVALID for anything else: a failed gate, LoadGen's
    INVALID, request errors)."""
    verdicts = frame.get("validity", pd.Series(VALID, index=frame.index))
    reasons = frame.get("validity_reasons", pd.Series("", index=frame.index))
    usable = (verdicts == VALID) | reasons.map(lambda text: noise_only(str(text)))
    return frame[usable], frame[~usable]


def refusal(baseline: pd.DataFrame, candidate: pd.DataFrame, key: list[str],
            across: Sequence[str]) -> str:
    """Why no cell matched, naming the difference between the nearest runs."""
    nearest = min((nearest_difference(row, candidate, key) for _, row in baseline.iterrows()),
                  key=len, default=[])
    why = (f"they differ in {'; '.join(nearest)}" if nearest
           else "one side has no finished run that is VALID or merely unstable")
    hint = (" (to compare across audio lengths by RTF, pass task.across=[audio])"
            if any(d.startswith("audio") for d in nearest) and "audio" not in across else "")
    return ("no cell of the candidate matches a finished cell of the baseline: "
            f"{why}; compare like with like{hint}")


def rtf_samples(total_ms: Any, duration: str | None) -> Any:
    """Per-repeat RTF (seconds of processing per second of audio) of one run."""
    if duration in (None, "None", "nan"):
        raise ValueError("the run recorded no audio duration")
    return total_ms / 1000.0 / float(duration)


def _label(column: str) -> str:
    return column.removeprefix("id.").replace("audio_", "audio ")
