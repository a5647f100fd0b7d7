"""The quality gate: a stage with real weights is held to what its field measures, not samples.

A vocoder's phase may move freely without changing what is heard, so a bfloat16 vocoder
whose waveform is 20 dB from the fp32 one can sound the same: numeric parity (rel L2, SNR)
would refuse it. Each stage whose components all carry real weights (``model.weights.
<component>`` not ``seeded``) and whose field the pipeline names (``Pipeline.quality_fields``)
is judged instead by that field's measures of its output against the fp32 eager reference's
output on the same input (avbench.metrics.fidelity):

========== =====================================================================
field      measures (limits: ``precision.quality``, conf/precision/*.yaml)
========== =====================================================================
vocoder    ``log_mel_db`` and ``mr_stft_db`` (dB distances to the reference's audio)
tts        ``log_mel_db``
separation ``si_sdr_db`` (the stem against the reference's stem) and, when the input's true
           stem is known, ``si_sdr_change_db`` (SI-SDR to the truth, run minus reference)
f0         ``f0_rmse_cents`` and ``f0_rpa`` against the reference's track
========== =====================================================================

Every other stage (seeded weights, DSP) keeps the numeric parity gate. A run passes when
every stage passes the gate that judges it; tags ``gate.<stage>`` = ``numeric`` | ``quality``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from avbench.metrics import fidelity
from avbench.pipelines.base import Pipeline, Stage, State

NUMERIC = "numeric"
QUALITY = "quality"
SEEDED = "seeded"
WEIGHTS_TAG = "model.weights."

# measure, threshold field, direction (+1: at most the limit; -1: at least)
LIMITS = (("log_mel_db", "max_log_mel_db", 1), ("mr_stft_db", "max_mr_stft_db", 1),
          ("si_sdr_db", "min_si_sdr_db", -1), ("si_sdr_change_db", "min_si_sdr_change_db", -1),
          ("f0_rmse_cents", "max_f0_rmse_cents", 1), ("f0_rpa", "min_f0_rpa", -1))
FIELDS = ("vocoder", "tts", "separation", "f0")


def stage_gate(components: tuple[str, ...], field: str | None,
               weight_tags: Mapping[str, str]) -> str:
    """``quality`` when the stage has a field and every component of it real weights."""
    if field is None or not components:
        return NUMERIC
    sources = [weight_tags.get(f"{WEIGHTS_TAG}{name}", SEEDED) for name in components]
    return QUALITY if all(source != SEEDED for source in sources) else NUMERIC


def stage_gates(pipe: Pipeline, tags: Mapping[str, str]) -> dict[str, str]:
    """Which gate judges each stage that has outputs."""
    fields = getattr(pipe, "quality_fields", {})
    return {stage.name: stage_gate(stage.components, fields.get(stage.name), tags)
            for stage in pipe.stages if stage.outputs}


def measure(field: str, output: torch.Tensor, reference: torch.Tensor, sample_rate: int,
            truth: torch.Tensor | None = None) -> dict[str, float]:
    """The field's measures of ``output`` against the reference's output (same input)."""
    if field in ("vocoder", "tts"):
        values = {"log_mel_db": fidelity.log_mel_distance_db(output, reference, sample_rate)}
        if field == "vocoder":
            values["mr_stft_db"] = fidelity.mr_stft_distance_db(output, reference)
        return values
    if field == "separation":
        values = {"si_sdr_db": fidelity.si_sdr_db(output, reference)}
        if truth is not None:
            values["si_sdr_change_db"] = (fidelity.si_sdr_db(output, truth)
                                          - fidelity.si_sdr_db(reference, truth))
        return values
    if field == "f0":
        return fidelity.f0_agreement(output, reference)
    raise ValueError(f"quality field {field!r} is not one of {', '.join(FIELDS)}")


def violations(measures: Mapping[str, float], thresholds: Any) -> list[str]:
    """Each measure beyond its limit, as 'log_mel_db 0.91 > 0.5'; a null limit is unchecked."""
    found = []
    for name, limit_field, sign in LIMITS:
        limit = getattr(thresholds, limit_field, None)
        if limit is None or name not in measures:
            continue
        value = measures[name]
        if math.isnan(value) or sign * (value - limit) > 0:
            found.append(f"{name} {value:.4g} {'>' if sign > 0 else '<'} {limit:g}")
    return found


def check(pipe: Pipeline, outputs: State, reference: State, thresholds: Any,
          gates: Mapping[str, str], truth: Mapping[str, torch.Tensor] | None = None
          ) -> tuple[dict[str, float], dict[str, list[str]]]:
    """``gate.<stage>.<measure>`` metrics of the quality-judged stages (``outputs``: each
    stage's output fed the reference's inputs) and each failing stage's violations."""
    fields = getattr(pipe, "quality_fields", {})
    metrics: dict[str, float] = {}
    failures: dict[str, list[str]] = {}
    for stage in pipe.stages:
        if gates.get(stage.name) != QUALITY:
            continue
        for key in _present(stage, outputs, reference):
            name = stage.name + (f".{key}" if len(stage.outputs) > 1 else "")
            values = measure(fields[stage.name], outputs[key], reference[key],
                             pipe.sample_rate, (truth or {}).get(key))
            metrics |= {f"gate.{name}.{m}": v for m, v in values.items()}
            if problems := violations(values, thresholds):
                failures.setdefault(stage.name, []).extend(problems)
    return metrics, failures


def _present(stage: Stage, outputs: State, reference: State) -> list[str]:
    return [key for key in stage.outputs if key in outputs and key in reference]


def verdict(gates: Mapping[str, str], numeric: Mapping[str, list[str]],
            quality: Mapping[str, list[str]]) -> list[str]:
    """The run's gate failures, one line per failing stage, each judged by its own gate:
    ``vocoder: quality log_mel_db 0.91 > 0.5``. A quality-judged stage's numeric
    violations do not fail it; a stage without a gate entry is judged numerically."""
    lines = []
    for stage in dict.fromkeys([*gates, *numeric, *quality]):
        gate = gates.get(stage, NUMERIC)
        problems = (quality if gate == QUALITY else numeric).get(stage)
        if problems:
            lines.append(f"{stage}: {gate} {', '.join(problems)}")
    return lines
