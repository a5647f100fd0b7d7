"""Interpretation bands at and around every boundary the guide names."""

from __future__ import annotations

import math

import pytest

from avbench.analysis import bands


@pytest.mark.parametrize(("rtf", "band"), [
    (0.1, "excellent"), (0.499, "excellent"), (0.5, "good"), (0.999, "good"), (1.0, "fair"),
    (2.0, "fair"), (2.001, "poor"), (10.0, "poor")])
def test_rtf(rtf: float, band: str) -> None:
    assert bands.RTF.of(rtf) == band


@pytest.mark.parametrize(("hz", "band"), [
    (0.0, "excellent"), (4.99, "excellent"), (5.0, "good"), (10.0, "fair"), (20.0, "fair"),
    (20.5, "poor")])
def test_pitch_rmse(hz: float, band: str) -> None:
    assert bands.PITCH_RMSE.of(hz) == band and bands.CLEAN_PITCH_RMSE.of(hz) == band


@pytest.mark.parametrize(("mb", "band"), [
    (3.9 * 1024, "excellent"), (4 * 1024, "good"), (6 * 1024, "fair"), (8 * 1024, "fair"),
    (8.1 * 1024, "poor")])
def test_gpu_memory_is_banded_in_gb(mb: float, band: str) -> None:
    assert bands.GPU_MEMORY.of(mb) == band


@pytest.mark.parametrize(("pct", "band"), [(95, "good"), (70.1, "good"), (70, "fair"),
                                          (50, "fair"), (49.9, "poor")])
def test_gpu_utilisation(pct: float, band: str) -> None:
    assert bands.gpu_util_band(pct) == band


def test_missing_values_have_no_band() -> None:
    assert bands.RTF.of(math.nan) is None and bands.gpu_util_band(math.nan) is None
