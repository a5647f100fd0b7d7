"""A run's verdict, VALID or INVALID with reasons, as every summary reads it.

A run judged by avbench (the judge phase) carries the tags ``validity`` (VALID | INVALID)
and ``validity.reasons`` (short reasons joined by "; "). A run recorded before the judge
existed carries neither: its verdict is derived from what it did record (its status, the
``bench.unstable`` tag against its ``rtf.cv``, the ``parity.pass`` tag) and marked not
judged. Summaries (best cell, Pareto front, hardware table, compare's gate, report,
notebook) build on VALID runs only and list the others with their reasons.

Pure Python: the sweep callback (no pandas) and the analysis frames both use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

VALID, INVALID = "VALID", "INVALID"
VALIDITY_TAG = "validity"
REASONS_TAG = "validity.reasons"
# Reasons that say the measurement was too noisy (or too small) to decide on, not that the
# run was wrong: task=compare calls a cell with such a side "too unstable to tell" (exit 3).
NOISE_REASONS = ("cv ", "unstable", "machine busy", "repeats ", "clock ", "samples ")


@dataclass(frozen=True)
class Verdict:
    validity: str  # VALID | INVALID
    reasons: tuple[str, ...]
    judged: bool  # False: derived here for a run recorded before the judge existed

    @property
    def valid(self) -> bool:
        return self.validity == VALID

    @property
    def text(self) -> str:
        """``VALID`` or ``INVALID: cv 47.9 % > 10 %; parity FAIL: vocoder``."""
        return self.validity + (f": {'; '.join(self.reasons)}" if self.reasons else "")

    @property
    def noise_only(self) -> bool:
        """INVALID for noise alone (instability, too few samples, a busy machine)."""
        return not self.valid and noise_only(self.reasons)


def split_reasons(text: str | None) -> tuple[str, ...]:
    return tuple(r.strip() for r in (text or "").split(";") if r.strip())


def noise_only(reasons: tuple[str, ...] | str | None) -> bool:
    """True when there are reasons and every one says "too noisy to decide" (NOISE_REASONS)."""
    found = split_reasons(reasons) if isinstance(reasons, str | None) else reasons
    return bool(found) and all(reason.startswith(NOISE_REASONS) for reason in found)


def verdict(status: str, tags: Mapping[str, str], metrics: Mapping[str, float]) -> Verdict:
    """The run's verdict: its own tags when judged, else derived (see the module doc)."""
    tagged = str(tags.get(VALIDITY_TAG, "")).upper()
    if tagged in (VALID, INVALID):
        reasons = split_reasons(tags.get(REASONS_TAG))
        if status != "FINISHED" and f"run {status}" not in reasons:
            reasons = (f"run {status}", *reasons)
        if status != "FINISHED":
            tagged = INVALID
        return Verdict(tagged, reasons, judged=True)
    return derived(status, tags, metrics)


def derived(status: str, tags: Mapping[str, str], metrics: Mapping[str, float]) -> Verdict:
    """The verdict of a run without a ``validity`` tag, from its status, stability and
    parity flags."""
    reasons = []
    if status != "FINISHED":
        reasons.append(f"run {status}")
    if str(tags.get("bench.unstable", "")).lower() == "true":
        cv = metrics.get("rtf.cv")
        reasons.append("unstable" + (f": cv {100 * cv:.1f} %" if cv is not None else ""))
    if str(tags.get("parity.pass", "")).lower() == "false":
        stages = [f.split(":")[0].strip() for f in split_reasons(tags.get("parity.failures"))]
        reasons.append("parity FAIL" + (f": {', '.join(stages)}" if stages else ""))
    return Verdict(INVALID if reasons else VALID, tuple(reasons), judged=False)
