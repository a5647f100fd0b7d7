"""The length fit: time = overhead + slope x seconds, on synthetic times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from avbench.analysis import scaling


def test_the_fit_recovers_overhead_and_slope_and_predicts_a_longer_input() -> None:
    seconds = [1.0, 2.0, 5.0, 10.0]
    noise = np.array([3.0, -2.0, 1.5, -1.0])
    fit = scaling.fit_length(seconds, 120.0 + 45.0 * np.array(seconds) + noise)
    assert fit.overhead_ms == pytest.approx(120.0, abs=5.0)
    assert fit.ms_per_audio_s == pytest.approx(45.0, abs=1.0)
    assert 0.99 < fit.r2 <= 1.0 and len(fit.residuals_ms) == 4
    assert abs(sum(fit.residuals_ms)) < 1e-9  # least squares with an intercept
    measured_30 = 120.0 + 45.0 * 30
    assert abs(scaling.prediction_error_pct(fit, 30.0, measured_30)) < 1.0


def test_a_fit_needs_two_lengths() -> None:
    with pytest.raises(ValueError, match="two or more"):
        scaling.fit_length([5.0, 5.0], [10.0, 11.0])


def test_fit_runs_fits_the_total_and_every_stage_and_plots(tmp_path: Path) -> None:
    seconds = np.array([1.0, 2.0, 5.0, 10.0])
    runs = pd.DataFrame({"metrics.audio_duration_s": seconds,
                         "metrics.total_ms": 50 + 30 * seconds,
                         "metrics.stage_ms.vocoder": 10 + 25 * seconds,
                         "metrics.stage_ms.vocoder.p95": 12 + 26 * seconds})
    fits = scaling.fit_runs(runs)
    assert set(fits) == {"total", "vocoder"}  # statistics columns are not stages
    assert fits["vocoder"].predict(30.0) == pytest.approx(10 + 25 * 30)
    path = scaling.plot_scaling(fits, tmp_path / "scaling.png", until_s=30.0)
    assert path.stat().st_size > 1000
    with pytest.raises(ValueError, match="audio.duration_s"):
        scaling.fit_runs(runs.drop(columns="metrics.audio_duration_s"))
