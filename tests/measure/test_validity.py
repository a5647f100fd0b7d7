"""The validity rules, decided from figures alone: each rule, its threshold from the config,
today's load tags and the contract's, and the reasons' wording."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from avbench.config import ValidityConfig
from avbench.measure.validity import (
    INVALID,
    VALID,
    Thresholds,
    Verdict,
    hint,
    judge_epochs,
    judge_kernels,
    judge_run,
    reasons_from_tags,
)

T = Thresholds()
# A clean offline run: five repeats, steady, a cheap clock, an idle machine.
CLEAN_METRICS = {"rtf.cv": 0.02, "harness.timer_overhead_pct": 0.03,
                 "monitor.other_cpu_pct": 3.0, "monitor.steal_pct": 0.0}
CLEAN_TAGS = {"bench.repeats": "5"}


def reasons(metrics=None, tags=None, t=T, failures=None, extra=()) -> list[str]:
    verdict = judge_run(CLEAN_METRICS | (metrics or {}), CLEAN_TAGS | (tags or {}), t,
                        failures, extra)
    assert verdict.validity == (INVALID if verdict.reasons else VALID)
    return list(verdict.reasons)


def test_a_clean_run_is_valid() -> None:
    verdict = judge_run(CLEAN_METRICS, CLEAN_TAGS, T)
    assert verdict.valid and verdict.tags() == {"validity": "VALID", "validity.reasons": ""}
    assert verdict.headline() == "VALID"


def test_too_few_repeats() -> None:
    assert reasons(tags={"bench.repeats": "2"}) == ["repeats 2 < 5"]
    assert reasons(tags={"bench.repeats": "5"}) == []
    assert reasons(tags={"bench.repeats": "2"}, t=Thresholds(min_samples=2)) == []


def test_unstable() -> None:
    assert reasons({"rtf.cv": 0.479}) == ["cv 47.9 % > 10 %"]
    assert reasons({"rtf.cv": 0.10}) == []  # at the threshold: still valid
    assert reasons({"rtf.cv": 0.479}, t=Thresholds(max_cv=0.5)) == []
    assert reasons({"rtf.cv": float("nan")}) == []  # nothing to judge


def test_gate_failures() -> None:
    failures = ["vocoder (rel_l2 2.1e-02 > 1e-02)", "mixing (snr 31 dB < 40 dB)"]
    assert reasons(failures=failures) == ["gate FAIL: vocoder (rel_l2 2.1e-02 > 1e-02)",
                                          "gate FAIL: mixing (snr 31 dB < 40 dB)"]
    assert reasons(failures=[]) == [] and reasons(failures=None) == []
    # The parity gate writes "stage: problems": the reason names the stage the same way.
    assert reasons(failures=["vocoder: rel_l2 2.1e-02 > 1.0e-02, snr_db 31.0 < 40.0"]) == [
        "gate FAIL: vocoder (rel_l2 2.1e-02 > 1.0e-02, snr_db 31.0 < 40.0)"]


def test_clock_share() -> None:
    assert reasons({"harness.timer_overhead_pct": 71.0}) == ["clock 71 % of a call > 1 %"]
    assert reasons({"harness.timer_overhead_pct": 0.9}) == []
    assert reasons({"harness.timer_overhead_pct": 71.0}, t=Thresholds(max_clock_pct=80)) == []


def test_busy_machine() -> None:
    assert reasons({"monitor.other_cpu_pct": 88.0}) == [
        "machine busy: other processes 88 % CPU > 25 %"]
    assert reasons({"monitor.steal_pct": 12.0}) == ["machine busy: hypervisor steal 12 % CPU > 10 %"]
    assert reasons({"monitor.other_cpu_pct": 88.0}, t=Thresholds(max_other_cpu_pct=90)) == []
    assert judge_run({"rtf.cv": 0.01}, CLEAN_TAGS, T).valid  # not monitored: not judged


def test_every_broken_rule_is_a_reason_in_order() -> None:
    got = reasons({"rtf.cv": 0.479, "harness.timer_overhead_pct": 71.0,
                   "monitor.other_cpu_pct": 88.0}, {"bench.repeats": "2"},
                  failures=["vocoder (x)"], extra=["concurrency 4: errors 1 of 16 requests"])
    assert got == ["repeats 2 < 5", "cv 47.9 % > 10 %", "gate FAIL: vocoder (x)",
                   "clock 71 % of a call > 1 %", "machine busy: other processes 88 % CPU > 25 %",
                   "concurrency 4: errors 1 of 16 requests"]
    verdict = Verdict.of(got)
    assert verdict.headline().startswith("INVALID: repeats 2 < 5; cv 47.9 % > 10 %; gate FAIL")
    assert reasons_from_tags(verdict.tags()) == got


LOADGEN_VALID = {"loadgen.result": "VALID", "loadgen.queries": "71"}


def load_reasons(metrics: dict, tags: dict, t: Thresholds = T) -> list[str]:
    return list(judge_run({"success_rate": 1.0} | metrics, tags, t).reasons)


def test_loadgen_verdict_with_todays_tags() -> None:
    assert load_reasons({}, LOADGEN_VALID) == []
    invalid = LOADGEN_VALID | {"loadgen.result": "INVALID", "loadgen.early_stopping": "NO",
                               "loadgen.min_duration": "NO", "loadgen.min_queries": "Yes",
                               "loadgen.performance_constraints": "Yes"}
    assert load_reasons({}, invalid) == ["loadgen INVALID: min duration, early stopping"]


def test_loadgen_verdict_with_the_contract_tags() -> None:
    tags = {"loadgen.validity": "INVALID", "loadgen.failed_bounds": "latency, ttfa",
            "loadgen.result": "VALID"}  # the contract's tag wins over the old one
    assert load_reasons({}, tags) == ["loadgen INVALID: latency, ttfa"]
    assert load_reasons({}, {"loadgen.validity": "INVALID"}) == ["loadgen INVALID: see its log"]
    assert load_reasons({}, {"loadgen.validity": "VALID", "loadgen.failed_bounds": "none"}) == []


def test_failed_requests() -> None:
    # Today: LoadGen's query count and the success rate; contract: load.requests/load.errors.
    assert load_reasons({"success_rate": 61 / 64}, {"loadgen.queries": "64"}) == [
        "errors 3 of 64 requests"]
    assert load_reasons({"load.requests": 64, "load.errors": 3}, {}) == [
        "errors 3 of 64 requests"]
    assert load_reasons({"load.requests": 64, "load.errors": 3}, {},
                        Thresholds(max_error_pct=5.0)) == []  # 3 of 64 is 4.7 %
    assert load_reasons({"load.requests": 64, "load.errors": 0}, {}) == []


def test_too_few_requests_or_chunks() -> None:
    assert load_reasons({"load.requests": 4, "load.errors": 0}, {}) == ["requests 4 < 5"]
    assert load_reasons({"load.requests": 6, "load.errors": 2}, {}) == [
        "errors 2 of 6 requests", "requests 4 < 5"]
    assert load_reasons({}, {"stream.chunks": "3"}) == ["chunks 3 < 5"]
    assert load_reasons({}, {"stream.chunks": "20"}) == []


def test_a_concurrency_run_takes_its_levels_reasons() -> None:
    """The parent's figures are its best level's: the levels are judged one by one and
    their reasons given, not judged again from the parent's figures."""
    tags = {"concurrency.levels": "1,2,4", "load.failures": "3x timeout"}
    verdict = judge_run({"success_rate": 13 / 16, "load.requests": 16, "load.errors": 3}, tags,
                        T, extra=["concurrency 4: errors 3 of 16 requests"])
    assert verdict.reasons == ("concurrency 4: errors 3 of 16 requests",)


def test_kernels_rows() -> None:
    rows = [{"family": "stft", "impl": "torch", "repeats": 10, "cv": 0.02, "clock_pct": 0.01},
            {"family": "stft", "impl": "librosa", "repeats": 10, "cv": 0.231, "clock_pct": 0.01},
            {"family": "f0", "impl": "torch", "repeats": 3, "cv": 0.01, "clock_pct": 2.5},
            {"family": "stft", "impl": "triton_interpreted", "repeats": 1, "interpreted": True}]
    verdict = judge_kernels(rows, {"monitor.other_cpu_pct": 30.0}, T)
    assert verdict.reasons == ("cv 23.1 % > 10 % (stft/librosa)", "repeats 3 < 5 (f0/torch)",
                               "clock 2.5 % of a call > 1 % (f0/torch)",
                               "machine busy: other processes 30 % CPU > 25 %")
    assert judge_kernels(rows[:1], {}, T).valid


def test_data_epochs() -> None:
    assert judge_epochs([100.0, 102.0], T).valid
    assert judge_epochs([100.0], T).reasons == ("timed epochs 1 < 2",)
    assert judge_epochs([100.0, 150.0], T).reasons == ("cv 28.3 % > 10 %",)
    assert judge_epochs([100.0], Thresholds(min_epochs=1)).valid


def test_thresholds_come_from_the_config_node() -> None:
    node = OmegaConf.structured(ValidityConfig(max_cv=0.2, min_samples=3,
                                               max_other_cpu_pct=50.0))
    t = Thresholds.from_config(node)
    assert (t.max_cv, t.min_samples, t.max_other_cpu_pct) == (0.2, 3, 50.0)
    assert Thresholds.from_config(ValidityConfig()) == Thresholds()  # the same defaults
    assert Thresholds.from_config({"max_cv": 0.05}).max_cv == 0.05
    assert t.sample_rule.min_samples == 3
    assert reasons({"rtf.cv": 0.15}, {"bench.repeats": "3"}, t=t) == []


@pytest.mark.parametrize(("reason", "advice"), [
    ("repeats 2 < 5", "bench.min_repeats"), ("cv 47.9 % > 10 %", "task=doctor"),
    ("machine busy: other processes 88 % CPU > 25 %", "stop other work"),
    ("errors 3 of 64 requests", "load.failures"), ("gate FAIL: vocoder (x)", "reference")])
def test_every_reason_says_what_to_do(reason: str, advice: str) -> None:
    assert advice in hint(reason)
