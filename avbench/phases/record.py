"""Phase 6, record: trust flags, metrics, series, params, artifacts and the console summary."""

from __future__ import annotations

import logging
from typing import Any

from avbench import console
from avbench.backends import BackendReport
from avbench.evaluators import parity_reference as parity
from avbench.evaluators.summary import quality_lines
from avbench.phases.artifacts import write_artifacts, write_json
from avbench.phases.summary import run_summary
from avbench.pipelines.base import Pipeline
from avbench.run_types import Measurement, RunContext, RunInput

log = logging.getLogger(__name__)


def trust_flags(ctx: RunContext) -> None:
    """Tags that say whether the numbers can be trusted, with a warning for each problem."""
    cfg, metrics = ctx.cfg, ctx.metrics
    if "rtf.cv" not in metrics:  # load scenarios: LoadGen's verdict is their trust flag
        return
    unstable = metrics["rtf.cv"] > cfg.bench.max_cv
    flags = {"bench.unstable": str(unstable).lower()}
    if unstable:
        load = (f" (meanwhile other processes took {metrics['monitor.other_cpu_pct']:.1f}% and "
                f"the hypervisor {metrics['monitor.steal_pct']:.1f}% of the CPU)"
                if "monitor.other_cpu_pct" in metrics else "")
        log.warning("RTF varies %.1f%% between repeats (bench.max_cv=%.0f%%)%s: the machine is "
                    "busy or the run is too short; raise bench.min_time_s or check "
                    "python -m avbench task=doctor (timing noise)", 100 * metrics["rtf.cv"],
                    100 * cfg.bench.max_cv, load)
    if "monitor.gpu_throttled.fraction" in metrics:
        throttled = metrics["monitor.gpu_throttled.fraction"] > 0
        flags["bench.throttled"] = str(throttled).lower()
        if throttled:
            log.warning("the GPU throttled its clocks during %.0f%% of samples",
                        100 * metrics["monitor.gpu_throttled.fraction"])
    if ctx.device.type == "cuda" and "monitor.gpu_util_pct.mean" in metrics:
        starved = metrics["monitor.gpu_util_pct.mean"] < cfg.bench.min_gpu_util_pct
        flags["bench.gpu_bottleneck_elsewhere"] = str(starved).lower()
        if starved:
            log.warning("mean GPU utilisation %.0f%% < %.0f%%: the GPU waits on something else",
                        metrics["monitor.gpu_util_pct.mean"], cfg.bench.min_gpu_util_pct)
    ctx.set_tags(flags)


def record(ctx: RunContext, pipe: Pipeline, run_input: RunInput, measured: Measurement,
           report: BackendReport) -> dict[str, float]:
    """Log everything the run measured, print its summary, enforce the parity gate."""
    if measured.times is None:
        return record_load(ctx, pipe, measured)
    logger, metrics = ctx.logger, ctx.metrics
    logger.log_metrics(metrics)
    for series_name, values in measured.series.items():
        logger.log_series(series_name, values)
    described = {k: v for k, v in pipe.describe().items() if k != "weights"}  # weights: tags
    logger.log_params({f"model.{key}": value for key, value in _flat(described).items()
                       if value not in ([], {}, ())})
    for path in write_artifacts(ctx.cfg, ctx.out_dir, ctx.device, metrics["audio_duration_s"],
                                measured.times, metrics, measured.output):
        logger.log_artifact(path)
    failures = ctx.parity_failures
    summary = run_summary(ctx.name, ctx.cfg, ctx.device, measured.times, metrics, report, logger,
                          failures)
    at = len(summary["lines"]) - (1 if logger.run_id else 0)  # before the "mlflow run" line
    summary["lines"][at:at] = quality_lines(metrics, ctx.tags)
    console.print_run_summary(summary)
    if failures and ctx.cfg.backend.parity.enforce:
        raise parity.ParityError(f"parity beyond precision={ctx.cfg.precision.name} thresholds: "
                                 + "; ".join(failures))
    return metrics


def record_load(ctx: RunContext, pipe: Pipeline, measured: Measurement) -> dict[str, float]:
    """A load scenario's record: its metrics, series, artifacts (LoadGen's logs) and the
    summary lines it wrote."""
    logger, metrics = ctx.logger, ctx.metrics
    logger.log_metrics(metrics)
    for series_name, values in measured.series.items():
        logger.log_series(series_name, values)
    logger.log_params({f"model.{key}": value for key, value in _flat(pipe.describe()).items()})
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    for path in [*measured.artifacts, write_json(ctx.out_dir / "metrics.json", metrics)]:
        logger.log_artifact(path)
    console.print_load_summary(ctx.name, measured.lines, logger.run_id)
    return metrics


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat
