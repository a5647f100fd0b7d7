"""Phase 6, judge: is the run VALID? After evaluate (the gate's failures are known), before
record (the console's first summary line says the verdict).

The rules are pure functions in ``avbench.measure.validity``; this phase applies them to the
run's metrics, tags and gate failures with the thresholds of the config node ``validity``,
and tags the run:

- ``validity`` = ``VALID`` | ``INVALID`` and ``validity.reasons`` (reasons joined by "; ");
- ``stats.omitted``: statistics the sample did not support, left out (``measure.stats``);
- the flags ``bench.unstable``, ``bench.throttled``, ``bench.gpu_bottleneck_elsewhere``.
"""

from __future__ import annotations

import logging
from typing import Any

from avbench.measure.stats import omitted_text
from avbench.measure.validity import Thresholds, Verdict, hint, judge_run
from avbench.run_types import Measurement, RunContext

log = logging.getLogger(__name__)
OMITTED_TAG = "stats.omitted"


def thresholds(cfg: Any) -> Thresholds:
    """The run's validity thresholds (the ``validity`` config node)."""
    return Thresholds.from_config(cfg.validity)


def judge(ctx: RunContext, measured: Measurement) -> Verdict:
    """Judge the run, tag the verdict and what was left out, warn once per reason."""
    t = thresholds(ctx.cfg)
    verdict = judge_run(ctx.metrics, ctx.tags, t, ctx.parity_failures, measured.reasons)
    tags = verdict.tags() | flags(ctx, t)
    if measured.omitted:
        tags[OMITTED_TAG] = omitted_text(measured.omitted)[:5000]
    ctx.set_tags(tags)
    warn(verdict)
    return verdict


def warn(verdict: Verdict) -> None:
    """One warning per reason, with what to do about it."""
    for reason in verdict.reasons:
        advice = hint(reason)
        log.warning("INVALID: %s%s", reason, f" ({advice})" if advice else "")


def flags(ctx: RunContext, t: Thresholds) -> dict[str, str]:
    """The trust flags a run carries beside its verdict: unstable (its CV over
    ``validity.max_cv``), a GPU that throttled, a GPU left waiting (mean utilisation under
    ``bench.min_gpu_util_pct``). Throttling and a waiting GPU are facts about the run, not
    reasons to reject it: the figures are what this hardware did."""
    metrics, out = ctx.metrics, {}
    if "rtf.cv" in metrics:
        out["bench.unstable"] = str(metrics["rtf.cv"] > t.max_cv).lower()
    if "monitor.gpu_throttled.fraction" in metrics:
        throttled = metrics["monitor.gpu_throttled.fraction"] > 0
        out["bench.throttled"] = str(throttled).lower()
        if throttled:
            log.warning("the GPU throttled its clocks during %.0f%% of samples",
                        100 * metrics["monitor.gpu_throttled.fraction"])
    if ctx.device.type == "cuda" and "monitor.gpu_util_pct.mean" in metrics:
        starved = metrics["monitor.gpu_util_pct.mean"] < ctx.cfg.bench.min_gpu_util_pct
        out["bench.gpu_bottleneck_elsewhere"] = str(starved).lower()
        if starved:
            log.warning("mean GPU utilisation %.0f%% < %.0f%%: the GPU waits on something else",
                        metrics["monitor.gpu_util_pct.mean"], ctx.cfg.bench.min_gpu_util_pct)
    return out
