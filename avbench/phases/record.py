"""Phase 7, record: metrics, series, params, artifacts and the console summary (whose first
line is the judge's verdict)."""

from __future__ import annotations

from typing import Any

from avbench import console
from avbench.backends import BackendReport
from avbench.evaluators import parity_reference as parity
from avbench.evaluators.summary import quality_lines
from avbench.measure.validity import Verdict
from avbench.phases.artifacts import write_artifacts, write_json
from avbench.phases.judge import OMITTED_TAG
from avbench.phases.summary import run_summary
from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput


def record(ctx: RunContext, pipe: Pipeline, run_input: RunInput, measured: Measurement,
           report: BackendReport, verdict: Verdict) -> dict[str, float]:
    """Log everything the run measured, print its summary, enforce the parity gate."""
    if measured.times is None:
        return record_load(ctx, pipe, measured, verdict)
    logger, metrics = ctx.logger, ctx.metrics
    logger.log_metrics(metrics)
    for series_name, values in measured.series.items():
        logger.log_series(series_name, values)
    ctx.set_tags(model_tags(ctx, pipe))
    for path in write_artifacts(ctx.cfg, ctx.out_dir, ctx.device, metrics["audio_duration_s"],
                                measured.times, metrics, measured.output):
        logger.log_artifact(path)
    failures = ctx.parity_failures
    summary = run_summary(ctx.name, ctx.cfg, ctx.device, measured.times, metrics, report, logger,
                          failures) | {"verdict": verdict.headline()}
    omitted = ctx.tags.get(OMITTED_TAG)
    at = len(summary["lines"]) - (1 if logger.run_id else 0)  # before the "mlflow run" line
    summary["lines"][at:at] = [*quality_lines(metrics, ctx.tags),
                               *([("left out", omitted)] if omitted else [])]
    console.print_run_summary(summary)
    if failures and ctx.cfg.backend.parity.enforce:
        raise parity.ParityError(f"parity beyond precision={ctx.cfg.precision.name} thresholds: "
                                 + "; ".join(failures))
    return metrics


def record_load(ctx: RunContext, pipe: Pipeline, measured: Measurement,
                verdict: Verdict) -> dict[str, float]:
    """A load scenario's record: its metrics, series, artifacts (LoadGen's logs) and the
    summary lines it wrote."""
    logger, metrics = ctx.logger, ctx.metrics
    logger.log_metrics(metrics)
    for series_name, values in measured.series.items():
        logger.log_series(series_name, values)
    ctx.set_tags(model_tags(ctx, pipe))
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    for path in [*measured.artifacts, write_json(ctx.out_dir / "metrics.json", metrics)]:
        logger.log_artifact(path)
    omitted = ctx.tags.get(OMITTED_TAG)
    lines = [*measured.lines, *([("left out", omitted)] if omitted else [])]
    console.print_load_summary(ctx.name, lines, logger.run_id, verdict.headline())
    return metrics


# describe() keys the record already holds: the settings and dtype are params, the weights
# are tagged by the build phase (model.weights.<component>).
_DESCRIBED_ELSEWHERE = ("settings", "dtype", "weights")


def model_tags(ctx: RunContext, pipe: Pipeline) -> dict[str, Any]:
    """What the pipeline says identifies what ran (``describe()``: parameter counts, the
    components loaded from a checkpoint, a model's version), as ``model.*`` tags: facts of
    the build, not settings; a value a ``pipeline.*`` setting already says is left out."""
    described = {k: v for k, v in pipe.describe().items() if k not in _DESCRIBED_ELSEWHERE}
    return {f"model.{key}": value for key, value in _flat(described).items()
            if value not in ([], {}, ()) and ctx.cfg.pipeline.get(key, None) != value}


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat
