"""The quality axes of the speed-vs-quality plot, and whether the swept choices move them.

The first axis every checked run has is its **fidelity**: the SNR of its final output
against the fp32 eager reference's on the same input (``quality.fidelity_snr_db``, dB;
the reference run itself is the reference: 200 dB, the cap). Precision, backend and kernel
choices move it. Where real weights grade a figure, that figure is an axis too (vocals
SI-SDR, vocoder resynthesis distance, speaker similarity, DNSMOS).

An axis is a trade-off only when its spread over the VALID cells is larger than its noise:
the largest spread between runs of one cell (replicas), and at least the axis's floor (the
smallest difference this figure reports as one). Below that, the points are drawn without
a front and the plot and report say why: a separator every preset shares gives every cell
the same vocals SI-SDR, and that is not a trade-off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from avbench.analysis.bands import graded_values

FIDELITY = "quality.fidelity_snr_db"


@dataclass(frozen=True)
class Axis:
    metric: str
    label: str
    unit: str
    higher_is_better: bool
    floor: float  # differences below this are not differences (in ``unit``)


AXES = (
    Axis(FIDELITY, "fidelity to the fp32 eager reference (output SNR)", "dB", True, 0.1),
    Axis("quality.vocals_si_sdr_db", "vocals SI-SDR", "dB", True, 0.1),
    Axis("quality.vocoder_resynthesis_logmel_db", "vocoder resynthesis log-mel distance", "dB",
         False, 0.05),
    Axis("quality.speaker_similarity", "speaker similarity", "", True, 0.01),
    Axis("quality.dnsmos_ovrl", "DNSMOS overall", "MOS", True, 0.05),
)


@dataclass(frozen=True)
class Spread:
    """An axis over the VALID cells: its range, its noise and whether it is a trade-off."""

    axis: Axis
    low: float
    high: float
    noise: float
    cells: int

    @property
    def spread(self) -> float:
        return self.high - self.low

    @property
    def trade_off(self) -> bool:
        return self.cells > 1 and self.spread > self.noise

    @property
    def text(self) -> str:
        unit = f" {self.axis.unit}" if self.axis.unit else ""
        # As many decimals as the smaller of spread and noise needs (17.126–17.132 dB).
        finest = min(self.noise, self.spread) if self.spread > 0 else self.noise
        digits = min(4, max(0, math.ceil(-math.log10(finest)))) if finest > 0 else 1
        span = (f"{self.low:.{digits}f}–{self.high:.{digits}f}{unit} over {self.cells} VALID "
                "cell(s)")
        if self.cells < 2:
            return f"{self.axis.label}: {span}: one cell, no trade-off to draw"
        verdict = ("a trade-off" if self.trade_off else
                   "below its noise: not a trade-off (no front drawn)")
        return (f"{self.axis.label}: {span}, spread {self.spread:.{digits}f}{unit} vs noise "
                f"{self.noise:.{digits}f}{unit}: {verdict}")


def quality_values(frame: pd.DataFrame, axis: Axis) -> pd.Series:
    """The axis's graded values (NaN where a seeded component makes a figure meaningless)."""
    if axis.metric not in frame.columns:
        return pd.Series(float("nan"), index=frame.index)
    return pd.to_numeric(graded_values(frame, axis.metric), errors="coerce")


def spread(valid: pd.DataFrame, axis: Axis) -> Spread | None:
    """The axis over ``valid`` (VALID runs, one ``cell`` label per cell); None when no run
    has it."""
    series = quality_values(valid, axis)
    present = valid.assign(_value=series).dropna(subset=["_value"])
    if present.empty:
        return None
    by_cell = present.groupby("cell")["_value"]
    replica_noise = float((by_cell.max() - by_cell.min()).max())
    medians = by_cell.median()
    return Spread(axis, float(medians.min()), float(medians.max()),
                  max(axis.floor, replica_noise), int(medians.size))


def spreads(valid: pd.DataFrame) -> list[Spread]:
    """Every axis the VALID runs have, fidelity first."""
    return [found for axis in AXES if (found := spread(valid, axis)) is not None]
