"""Validity: is a run's measurement good enough to conclude from? VALID or INVALID, with
a short reason per broken rule (tags ``validity`` and ``validity.reasons``).

Pure functions of a run's figures (metrics, tags, gate failures) and the thresholds of the
config node ``validity``, so every decision can be tested without timing anything. The rules
(docs/measurement.md, "Validity"):

- too few timed samples for the statistics: ``repeats 2 < 5`` (also requests, chunks, epochs);
- unstable: ``cv 47.9 % > 10 %``;
- the speed+quality gate failed: ``gate FAIL: vocoder (...)``;
- the clock costs too much of what it times: ``clock 71 % of a call > 1 %``;
- a busy machine: ``machine busy: other processes 88 % CPU > 25 %`` (or hypervisor steal);
- load runs: LoadGen's own verdict (``loadgen INVALID: early stopping``) and failed requests
  (``errors 3 of 64 requests``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from avbench.measure.stats import SampleRule

VALID = "VALID"
INVALID = "INVALID"
VALIDITY_TAG = "validity"
REASONS_TAG = "validity.reasons"
SEPARATOR = "; "
# Today's LoadGen tags (load/scenarios.verdict_tags) -> the bound each condition stands for.
LOADGEN_CONDITIONS = {"performance_constraints": "latency", "min_duration": "min_duration",
                      "min_queries": "min_queries", "early_stopping": "early_stopping"}


@dataclass(frozen=True)
class Thresholds:
    """The ``validity`` config node (avbench/config.py ``ValidityConfig``) as plain values."""

    min_samples: int = 5
    max_cv: float = 0.10
    max_clock_pct: float = 1.0
    max_other_cpu_pct: float = 25.0
    max_steal_pct: float = 10.0
    max_error_pct: float = 0.0
    percentile_tail: float = 1.0
    min_epochs: int = 2

    @classmethod
    def from_config(cls, validity: Any) -> Thresholds:
        """From the ``validity`` node (a DictConfig, a mapping or any object with the fields)."""
        def read(key: str, default: Any) -> Any:
            if isinstance(validity, Mapping):  # a dict or a DictConfig
                return validity.get(key, default)
            return getattr(validity, key, default)

        return cls(**{f.name: type(f.default)(read(f.name, f.default)) for f in fields(cls)})

    @property
    def sample_rule(self) -> SampleRule:
        return SampleRule(self.min_samples, self.percentile_tail)


@dataclass(frozen=True)
class Verdict:
    """VALID when no rule was broken; ``reasons`` says which were."""

    reasons: tuple[str, ...] = ()

    @property
    def validity(self) -> str:
        return INVALID if self.reasons else VALID

    @property
    def valid(self) -> bool:
        return not self.reasons

    def tags(self) -> dict[str, str]:
        return {VALIDITY_TAG: self.validity, REASONS_TAG: SEPARATOR.join(self.reasons)}

    def headline(self) -> str:
        """``VALID`` or ``INVALID: repeats 2 < 5; cv 47.9 % > 10 %``."""
        return self.validity + (f": {SEPARATOR.join(self.reasons)}" if self.reasons else "")

    def __add__(self, other: Verdict) -> Verdict:
        return Verdict(tuple(dict.fromkeys([*self.reasons, *other.reasons])))

    @classmethod
    def of(cls, reasons: Iterable[str]) -> Verdict:
        return cls(tuple(dict.fromkeys(r for r in reasons if r)))


def reasons_from_tags(tags: Mapping[str, str]) -> list[str]:
    """The reasons a run was tagged with (empty for a VALID or unjudged run)."""
    text = tags.get(REASONS_TAG, "")
    return [r for r in text.split(SEPARATOR) if r] if text else []


def _label(label: str) -> str:
    return f" ({label})" if label else ""


def too_few(n: int, what: str, minimum: int, label: str = "") -> list[str]:
    """``repeats 2 < 5``: fewer samples than the statistics need."""
    return [f"{what} {n} < {minimum}{_label(label)}"] if n < minimum else []


def unstable(cv: float | None, t: Thresholds, label: str = "") -> list[str]:
    """``cv 47.9 % > 10 %``: the samples vary more than ``max_cv``."""
    if cv is None or cv != cv or cv <= t.max_cv:  # cv != cv: NaN, nothing to judge
        return []
    return [f"cv {100 * cv:.1f} % > {100 * t.max_cv:g} %{_label(label)}"]


def clock_cost(pct: float | None, t: Thresholds, label: str = "") -> list[str]:
    """``clock 71 % of a call > 1 %``: reading the clock costs too much of what it times."""
    if pct is None or pct <= t.max_clock_pct:
        return []
    return [f"clock {pct:.3g} % of a call > {t.max_clock_pct:g} %{_label(label)}"]


def machine_busy(other_pct: float | None, steal_pct: float | None, t: Thresholds) -> list[str]:
    """Other processes or the hypervisor took more of the CPU than allowed while timing."""
    reasons = []
    if other_pct is not None and other_pct > t.max_other_cpu_pct:
        reasons.append(f"machine busy: other processes {other_pct:.0f} % CPU > "
                       f"{t.max_other_cpu_pct:g} %")
    if steal_pct is not None and steal_pct > t.max_steal_pct:
        reasons.append(f"machine busy: hypervisor steal {steal_pct:.0f} % CPU > "
                       f"{t.max_steal_pct:g} %")
    return reasons


def gate(failures: Iterable[str] | None) -> list[str]:
    """``gate FAIL: vocoder (...)``: one reason per stage that failed its gate. A failure
    written ``stage: details`` reads ``stage (details)``."""
    reasons = []
    for failure in failures or []:
        stage, colon, details = failure.partition(": ")
        named = colon and stage and " " not in stage and "(" not in stage
        reasons.append(f"gate FAIL: {stage} ({details})" if named else f"gate FAIL: {failure}")
    return reasons


def sample_rules(n: int, cv: float | None, clock_pct: float | None, t: Thresholds,
                 what: str = "repeats", label: str = "") -> list[str]:
    """The rules of one timed series: enough samples, stable, a clock that costs little."""
    return (too_few(n, what, t.min_samples, label) + unstable(cv, t, label)
            + clock_cost(clock_pct, t, label))


def request_errors(errors: int, requests: int, t: Thresholds, what: str = "requests"
                   ) -> list[str]:
    """``errors 3 of 64 requests``: more failed requests than ``max_error_pct`` allows."""
    if errors <= 0 or errors <= t.max_error_pct / 100.0 * requests:
        return []
    return [f"errors {errors} of {requests} {what}"]


def loadgen_verdict(tags: Mapping[str, str]) -> list[str]:
    """``loadgen INVALID: early stopping``: LoadGen's own verdict (contract tags
    ``loadgen.validity`` and ``loadgen.failed_bounds``, or today's ``loadgen.result`` and its
    yes/no conditions)."""
    verdict = tags.get("loadgen.validity") or tags.get("loadgen.result")
    if verdict != INVALID:
        return []
    bounds = tags.get("loadgen.failed_bounds")
    names = ([b.strip() for b in bounds.split(",") if b.strip() and b.strip() != "none"]
             if bounds else [bound for key, bound in LOADGEN_CONDITIONS.items()
                             if tags.get(f"loadgen.{key}", "").upper() == "NO"])
    return [f"loadgen INVALID: {', '.join(n.replace('_', ' ') for n in names) or 'see its log'}"]


def bound_failures(tags: Mapping[str, str]) -> list[str]:
    """The Server scenario's bounds as avbench holds them (``load.bound_failed``: latency,
    ttfa), with the load scenario's own account of each (``load.invalid_reasons``), e.g.
    ``latency bound: 93 of 100 requests over 60 ms (at most 9 may be, for p90 <= 60 ms)``."""
    failed = tags.get("load.bound_failed", "none")
    if failed in ("", "none"):
        return []
    details = [r.strip() for r in tags.get("load.invalid_reasons", "").split(";")
               if "bound" in r]
    return details or [f"{bound.strip()} bound FAIL" for bound in failed.split(",")]


def request_counts(metrics: Mapping[str, float], tags: Mapping[str, str]
                   ) -> tuple[int, int] | None:
    """(requests, failed) of a load run: ``load.requests``/``load.errors`` (metrics or the
    load scenarios' tags), else LoadGen's query count with the success rate; None when the
    run has neither."""
    if "load.requests" in metrics:
        requests = int(metrics["load.requests"])
        errors = int(metrics.get("load.errors",
                                 round((1 - metrics.get("success_rate", 1.0)) * requests)))
        return requests, errors
    if "load.requests" in tags and "load.errors" in tags:  # the load scenarios' tags
        return int(tags["load.requests"]), int(tags["load.errors"])
    if "loadgen.queries" in tags and "success_rate" in metrics:
        requests = int(tags["loadgen.queries"])
        return requests, round((1 - metrics["success_rate"]) * requests)
    return None


def request_rules(requests: int, errors: int, t: Thresholds) -> list[str]:
    """Few enough failed requests, and enough successful ones for the figures."""
    return request_errors(errors, requests, t) + too_few(requests - errors, "requests",
                                                         t.min_samples)


def load_rules(metrics: Mapping[str, float], tags: Mapping[str, str], t: Thresholds
               ) -> list[str]:
    """LoadGen's verdict, failed requests, and enough successful requests for the figures."""
    counts = request_counts(metrics, tags)
    return (loadgen_verdict(tags) + bound_failures(tags)
            + (request_rules(*counts, t) if counts is not None else []))


def judge_run(metrics: Mapping[str, float], tags: Mapping[str, str], t: Thresholds,
              failures: Iterable[str] | None = None, extra: Iterable[str] = ()) -> Verdict:
    """Every rule whose inputs the run has: repeats and CV (offline repeats), the gate, the
    clock, the machine, load requests and LoadGen's verdict (load scenarios), stream chunks,
    plus ``extra`` reasons a scenario found (e.g. its concurrency levels')."""
    reasons: list[str] = []
    if "bench.repeats" in tags:
        reasons += too_few(int(tags["bench.repeats"]), "repeats", t.min_samples)
    reasons += unstable(metrics.get("rtf.cv"), t)
    reasons += gate(failures)
    reasons += clock_cost(metrics.get("harness.timer_overhead_pct"), t)
    reasons += machine_busy(metrics.get("monitor.other_cpu_pct"),
                            metrics.get("monitor.steal_pct"), t)
    if "concurrency.levels" not in tags:  # a concurrency run's levels are judged one by one
        reasons += load_rules(metrics, tags, t)
    if "stream.chunks" in tags:
        reasons += too_few(int(tags["stream.chunks"]), "chunks", t.min_samples)
    return Verdict.of([*reasons, *extra])


def judge_kernels(rows: Iterable[Mapping[str, Any]], metrics: Mapping[str, float],
                  t: Thresholds) -> Verdict:
    """task=kernels: each timed implementation's repeats, CV and clock share (label
    ``family/impl``), and the machine. Interpreted Triton rows are not speed: not judged."""
    reasons: list[str] = []
    for row in rows:
        if not row.get("interpreted"):
            reasons += sample_rules(int(row["repeats"]), row.get("cv"), row.get("clock_pct"), t,
                                    label=f"{row['family']}/{row['impl']}")
    reasons += machine_busy(metrics.get("monitor.other_cpu_pct"),
                            metrics.get("monitor.steal_pct"), t)
    return Verdict.of(reasons)


def judge_epochs(samples_per_s: list[float], t: Thresholds) -> Verdict:
    """task=data: enough timed epochs (after the first) and their throughput stable."""
    n = len(samples_per_s)
    mean = sum(samples_per_s) / n if n else 0.0
    cv = None
    if n > 1 and mean > 0:
        cv = (sum((x - mean) ** 2 for x in samples_per_s) / (n - 1)) ** 0.5 / mean
    return Verdict.of(too_few(n, "timed epochs", t.min_epochs) + unstable(cv, t))


HINTS = {  # reason prefix -> what to do
    "repeats": "raise bench.min_repeats or bench.min_time_s (task=kernels: task.repeats)",
    "cv": "the machine is busy or the run too short: raise bench.min_time_s, check "
          "python -m avbench task=doctor (timing noise)",
    "gate FAIL": "the output differs from the fp32 eager reference beyond the precision's "
                 "thresholds (parity.* metrics)",
    "clock": "the call is too short for its clock: time it in batches (automatic for repeats) "
             "or give it more work",
    "machine busy": "stop other work on this machine (the monitor.* metrics say how much ran)",
    "loadgen": "LoadGen's verdict: see mlperf_log_summary.txt among the run's artifacts",
    "errors": "requests failed: see the tag load.failures",
    "requests": "raise scenario.min_queries / scenario.requests_per_level",
    "chunks": "use a longer audio= or a shorter scenario.chunk_s",
    "timed epochs": "raise data.epochs",
}


def hint(reason: str) -> str:
    """What to do about a reason (empty when there is no advice)."""
    return next((advice for prefix, advice in HINTS.items() if reason.startswith(prefix)), "")
