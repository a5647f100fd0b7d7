"""Parity measures on known inputs and the thresholds that gate them: a limit is a limit, a
NaN never passes."""

from __future__ import annotations

import math

import pytest
import torch

from avbench.config import ParityThresholds
from avbench.metrics.parity import SNR_CAP_DB, compare, violations

FP32 = ParityThresholds(max_rel_l2=1e-3, min_cosine=0.99999, min_snr_db=60.0)


def test_measures_of_known_outputs() -> None:
    ref = torch.tensor([3.0, 4.0, 0.0, 0.0])
    assert compare(ref, ref, audio=True) == {"max_abs": 0.0, "rel_l2": 0.0, "cosine": 1.0,
                                             "snr_db": SNR_CAP_DB}
    scaled = compare(1.1 * ref, ref, audio=True)  # the error is a tenth of the reference
    assert scaled["rel_l2"] == pytest.approx(0.1) and scaled["cosine"] == pytest.approx(1.0)
    assert scaled["snr_db"] == pytest.approx(20.0) and scaled["max_abs"] == pytest.approx(0.4)
    assert compare(1.01 * ref, ref, audio=True)["snr_db"] == pytest.approx(40.0)
    unit = torch.tensor([1.0, 0.0, 0.0, 0.0])
    for quiet in (unit, ref / 500):  # norms 1 and 0.01: the same relative figures
        measures = compare(1.1 * quiet, quiet, audio=True)
        assert measures["rel_l2"] == pytest.approx(0.1) and measures["cosine"] == pytest.approx(1)
        assert measures["snr_db"] == pytest.approx(20.0)
    turned = compare(torch.tensor([4.0, -3.0, 0.0, 0.0]), ref, audio=False)  # orthogonal
    assert turned["cosine"] == pytest.approx(0.0) and "snr_db" not in turned
    longer = compare(torch.cat([ref, torch.ones(3)]), ref, audio=False)  # overlap only
    assert longer["max_abs"] == 0.0
    with pytest.raises(ValueError, match="^parity: empty stage output$"):
        compare(torch.zeros(0), ref, audio=False)


def test_a_silent_reference() -> None:
    silent = torch.zeros(8)
    assert compare(silent, silent, audio=True) == {"max_abs": 0.0, "rel_l2": 0.0, "cosine": 1.0,
                                                   "snr_db": SNR_CAP_DB}
    louder = compare(torch.full((8,), 0.5), silent, audio=False)  # sound where none should be
    assert louder["rel_l2"] == math.inf and louder["cosine"] == 0.0
    assert violations(louder, FP32) == ["rel_l2 inf > 0.001", "cosine 0 < 0.99999"]


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_nan_or_inf_output_has_nan_measures_and_fails_the_gate(bad: float) -> None:
    ref = torch.linspace(-1, 1, 64)
    out = ref.clone()
    out[10] = bad
    measures = compare(out, ref, audio=True)
    assert set(measures) == {"max_abs", "rel_l2", "cosine", "snr_db"}
    assert all(math.isnan(v) for v in measures.values()), measures
    assert len(violations(measures, FP32)) == 3
    assert set(compare(out, ref, audio=False)) == {"max_abs", "rel_l2", "cosine"}  # no SNR


@pytest.mark.parametrize("measure", ["rel_l2", "cosine", "snr_db"])
def test_a_nan_measure_is_a_violation_whatever_else_passes(measure: str) -> None:
    passing = {"rel_l2": 0.0, "cosine": 1.0, "snr_db": 100.0}
    assert violations(passing, FP32) == []
    found = violations(passing | {measure: math.nan}, FP32)
    assert len(found) == 1 and found[0].startswith(f"{measure} nan")


@pytest.mark.parametrize(("measure", "limit", "beyond", "sign"), [
    ("rel_l2", 1e-3, 1.001e-3, ">"), ("cosine", 0.99999, 0.99998, "<"),
    ("snr_db", 60.0, 59.99, "<")])
def test_a_value_at_its_limit_passes_and_beyond_it_fails(measure: str, limit: float,
                                                         beyond: float, sign: str) -> None:
    passing = {"rel_l2": 0.0, "cosine": 1.0, "snr_db": 100.0}
    assert violations(passing | {measure: limit}, FP32) == []
    assert violations(passing | {measure: beyond}, FP32) == [
        f"{measure} {beyond:.4g} {sign} {limit:g}"]


def test_unset_limits_and_absent_measures_are_not_checked() -> None:
    bad = {"rel_l2": 1.0, "cosine": 0.0, "snr_db": 0.0}
    assert violations(bad, ParityThresholds()) == []
    assert violations({"rel_l2": 1.0}, FP32) == ["rel_l2 1 > 0.001"]  # no cosine, no SNR
    assert violations({"cosine": math.nan}, ParityThresholds(max_rel_l2=1e-3)) == []
    # An unset or absent first measure does not stop the ones after it being checked.
    assert violations(bad, ParityThresholds(min_snr_db=60.0)) == ["snr_db 0 < 60"]
    assert violations({"cosine": 0.5, "snr_db": 0.0}, FP32) == ["cosine 0.5 < 0.99999",
                                                              "snr_db 0 < 60"]
