"""Output-quality metrics: pitch accuracy of an F0 track against frame labels.

Inputs may be numpy arrays or torch tensors (on any device); torch is not imported here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# mir_eval's raw-pitch tolerance: an estimate is correct within (strictly) 50 cents.
CENT_TOLERANCE = 50.0


def _as_numpy(values: Any, dtype: type) -> np.ndarray:
    """1-D numpy copy of an array-like or torch tensor (detached, moved to CPU)."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=dtype)
    if array.ndim != 1:
        raise ValueError(f"pitch tracks must be 1-D (frames,), got shape {array.shape}")
    return array


def _aligned_tracks(f0_est_hz: Any, voiced_est: Any, f0_ref_hz: Any, voiced_ref: Any,
                    max_length_mismatch: int) -> tuple[np.ndarray, ...]:
    """The four tracks as numpy arrays, cut to a common length (see ``pitch_metrics``)."""
    f0_est = _as_numpy(f0_est_hz, np.float64)
    f0_ref = _as_numpy(f0_ref_hz, np.float64)
    est_on = _as_numpy(voiced_est, np.bool_)
    ref_on = _as_numpy(voiced_ref, np.bool_)
    if len(f0_est) != len(est_on) or len(f0_ref) != len(ref_on):
        raise ValueError(
            f"F0 and voicing lengths differ: estimate {len(f0_est)} vs {len(est_on)}, "
            f"reference {len(f0_ref)} vs {len(ref_on)}"
        )
    if abs(len(f0_est) - len(f0_ref)) > max_length_mismatch:
        raise ValueError(
            f"estimate has {len(f0_est)} frames but reference has {len(f0_ref)}; use the same "
            "sample rate and hop length as the labels"
        )
    frames = min(len(f0_est), len(f0_ref))
    return f0_est[:frames], est_on[:frames], f0_ref[:frames], ref_on[:frames]


def pitch_metrics(
    f0_est_hz: Any, voiced_est: Any, f0_ref_hz: Any, voiced_ref: Any, max_length_mismatch: int = 2
) -> dict[str, float]:
    """Compare an estimated F0 track with reference labels, frame by frame.

    All inputs are ``(frames,)``: F0 in Hz and boolean voicing. Tracks whose lengths differ by
    at most ``max_length_mismatch`` frames (edge-frame conventions) are truncated to the
    shorter; a larger mismatch means the frame grids differ and raises ``ValueError``.

    Returns:
        ``pitch_rmse_hz``: RMS Hz error over frames voiced in both reference and estimate.
        ``pitch_rpa_50c``: raw pitch accuracy: share of reference-voiced frames where the
            estimate is voiced, positive and within 50 cents (strict, as mir_eval). Unlike
            mir_eval, an estimate marked unvoiced counts as wrong.
        ``voicing_recall``: share of reference-voiced frames estimated voiced.
        ``voicing_false_alarm``: share of reference-unvoiced frames estimated voiced.
        ``pitch_frames_voiced``: number of reference-voiced frames (RPA/recall denominator).
        ``pitch_frames_both_voiced``: number of frames voiced in both (RMSE support).

        A ratio whose denominator is 0 (no voiced frames in both, no reference-voiced frames,
        no reference-unvoiced frames) is ``nan``: undefined, not perfect and not zero.
    """
    f0_est, est_on, f0_ref, ref_on = _aligned_tracks(f0_est_hz, voiced_est, f0_ref_hz,
                                                     voiced_ref, max_length_mismatch)
    frames = len(f0_est)
    both = est_on & ref_on
    n_ref_voiced = int(ref_on.sum())
    n_ref_unvoiced = frames - n_ref_voiced
    n_both = int(both.sum())
    rmse = float(np.sqrt(np.mean((f0_est[both] - f0_ref[both]) ** 2))) if n_both else float("nan")

    comparable = both & (f0_est > 0) & (f0_ref > 0)
    cents = np.full(frames, np.inf)
    cents[comparable] = 1200.0 * np.abs(np.log2(f0_est[comparable] / f0_ref[comparable]))
    correct = int((cents[ref_on] < CENT_TOLERANCE).sum())

    def ratio(numerator: int, denominator: int) -> float:
        return numerator / denominator if denominator else float("nan")

    return {
        "pitch_rmse_hz": rmse,
        "pitch_rpa_50c": ratio(correct, n_ref_voiced),
        "voicing_recall": ratio(n_both, n_ref_voiced),
        "voicing_false_alarm": ratio(int((est_on & ~ref_on).sum()), n_ref_unvoiced),
        "pitch_frames_voiced": float(n_ref_voiced),
        "pitch_frames_both_voiced": float(n_both),
    }
