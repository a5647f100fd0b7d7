"""pitch_metrics on hand-built tracks with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avbench.metrics.quality import pitch_metrics

CENT = 2 ** (1 / 1200)


def test_known_answer():
    # Frames: 0-3 reference-voiced at 200 Hz, 4-5 reference-unvoiced.
    ref_f0 = np.array([200.0, 200.0, 200.0, 200.0, 0.0, 0.0])
    ref_on = np.array([True, True, True, True, False, False])
    est_f0 = np.array([200.0 * CENT**49, 210.0, 100.0, 200.0, 150.0, 0.0])
    est_on = np.array([True, True, True, False, True, False])
    m = pitch_metrics(est_f0, est_on, ref_f0, ref_on)
    # Both voiced: frames 0, 1, 2 with Hz errors 200*(CENT**49 - 1), 10, -100.
    e0 = 200.0 * (CENT**49 - 1)
    assert m["pitch_rmse_hz"] == pytest.approx(math.sqrt((e0**2 + 10**2 + 100**2) / 3), rel=1e-12)
    # Within 50 cents: frame 0 (49 c); 210 Hz is 84.5 c off, 100 Hz an octave; frame 3 is
    # right in Hz but marked unvoiced, which counts as wrong.
    assert m["pitch_rpa_50c"] == pytest.approx(1 / 4)
    assert m["voicing_recall"] == pytest.approx(3 / 4)
    assert m["voicing_false_alarm"] == pytest.approx(1 / 2)
    assert m["pitch_frames_voiced"] == 4.0
    assert m["pitch_frames_both_voiced"] == 3.0


def test_fifty_cents_is_outside_strictly():
    ref = np.array([300.0, 300.0])
    on = np.array([True, True])
    m = pitch_metrics(np.array([300.0 * CENT**50.001, 300.0 / CENT**49.999]), on, ref, on)
    assert m["pitch_rpa_50c"] == pytest.approx(0.5)


def test_perfect_estimate():
    ref = np.linspace(100.0, 400.0, 50)
    on = np.arange(50) % 5 != 0
    m = pitch_metrics(np.where(on, ref, 0.0), on, np.where(on, ref, 0.0), on)
    assert m["pitch_rmse_hz"] == 0.0
    assert m["pitch_rpa_50c"] == m["voicing_recall"] == 1.0
    assert m["voicing_false_alarm"] == 0.0


def test_zero_denominators_are_nan():
    f0 = np.zeros(4)
    off = np.zeros(4, dtype=bool)
    m = pitch_metrics(f0, off, f0, off)
    assert math.isnan(m["pitch_rmse_hz"])
    assert math.isnan(m["pitch_rpa_50c"]) and math.isnan(m["voicing_recall"])
    assert m["voicing_false_alarm"] == 0.0 and m["pitch_frames_voiced"] == 0.0
    on = np.ones(4, dtype=bool)
    m = pitch_metrics(np.full(4, 100.0), on, np.full(4, 100.0), on)
    assert math.isnan(m["voicing_false_alarm"])
    assert m["pitch_rpa_50c"] == 1.0


def test_voiced_estimate_with_non_positive_f0_is_wrong_not_nan():
    on = np.ones(2, dtype=bool)
    m = pitch_metrics(np.array([0.0, 200.0]), on, np.array([200.0, 200.0]), on)
    assert m["pitch_rpa_50c"] == 0.5
    assert m["pitch_rmse_hz"] == pytest.approx(math.sqrt(200.0**2 / 2))


def test_torch_inputs_and_length_mismatch_truncates():
    ref_f0 = np.full(10, 220.0)
    ref_on = np.ones(10, dtype=bool)
    est_f0 = torch.full((11,), 220.0, dtype=torch.float32)
    est_on = torch.ones(11, dtype=torch.bool)
    est_on[10] = False
    m = pitch_metrics(est_f0, est_on, ref_f0, ref_on)
    assert m["pitch_frames_voiced"] == 10.0 and m["pitch_rpa_50c"] == 1.0
    assert m["pitch_rmse_hz"] == pytest.approx(0.0, abs=1e-4)


def test_large_length_mismatch_and_bad_shapes_raise():
    on = np.ones(10, dtype=bool)
    with pytest.raises(ValueError, match="hop length"):
        pitch_metrics(np.ones(20), np.ones(20, dtype=bool), np.ones(10), on)
    with pytest.raises(ValueError, match="1-D"):
        pitch_metrics(np.ones((2, 5)), np.ones((2, 5), dtype=bool), np.ones(10), on)
    with pytest.raises(ValueError, match="voicing lengths"):
        pitch_metrics(np.ones(10), np.ones(9, dtype=bool), np.ones(10), on)
