"""How far a stage output is from the fp32 eager reference, and whether that is within limits.

Measures (all in float64 over the overlapping length):
``max_abs`` = max |y - ref|; ``rel_l2`` = ||y - ref|| / ||ref||;
``cosine`` = <y, ref> / (||y|| ||ref||); ``snr_db`` = 10 log10(||ref||² / ||y - ref||²),
for audio outputs only (capped at 200 dB when the two are identical). An output (or
reference) with a NaN or an infinity has every measure NaN, which fails every threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

MEASURES = ("max_abs", "rel_l2", "cosine", "snr_db")
SNR_CAP_DB = 200.0


def compare(output: torch.Tensor, reference: torch.Tensor, audio: bool) -> dict[str, float]:
    """The parity measures of ``output`` against ``reference`` (same shape up to length)."""
    y = output.detach().to("cpu", torch.float64).reshape(-1)
    ref = reference.detach().to("cpu", torch.float64).reshape(-1)
    n = min(y.numel(), ref.numel())
    if n == 0:
        raise ValueError("parity: empty stage output")
    y, ref = y[:n], ref[:n]
    if not bool(torch.isfinite(y).all() and torch.isfinite(ref).all()):
        # NaN or inf: no measure holds (never a capped SNR or a zero cosine that reads as one)
        return dict.fromkeys([*MEASURES[:3], *(["snr_db"] if audio else [])], math.nan)
    diff = y - ref
    ref_norm, diff_norm, y_norm = ref.norm().item(), diff.norm().item(), y.norm().item()
    measures = {
        "max_abs": diff.abs().max().item(),
        "rel_l2": diff_norm / ref_norm if ref_norm > 0 else (0.0 if diff_norm == 0 else math.inf),
        "cosine": (torch.dot(y, ref).item() / (y_norm * ref_norm) if y_norm * ref_norm > 0
                   else float(diff_norm == 0)),
    }
    if audio:
        measures["snr_db"] = (SNR_CAP_DB if diff_norm == 0 or ref_norm == 0
                              else min(SNR_CAP_DB, 20 * math.log10(ref_norm / diff_norm)))
    return measures


def violations(measures: Mapping[str, float], thresholds: Any) -> list[str]:
    """Each measure beyond its threshold, as 'rel_l2 0.12 > 0.05'; thresholds may be null."""
    limits = [("rel_l2", thresholds.max_rel_l2, 1), ("cosine", thresholds.min_cosine, -1),
              ("snr_db", thresholds.min_snr_db, -1)]
    found = []
    for measure, limit, sign in limits:
        if limit is None or measure not in measures:
            continue
        value = measures[measure]
        if math.isnan(value) or sign * (value - limit) > 0:
            found.append(f"{measure} {value:.4g} {'>' if sign > 0 else '<'} {limit:g}")
    return found
