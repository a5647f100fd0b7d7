"""The end-of-run summary of task=pipeline: stage table, headline figures, backend, parity."""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig

from avbench.backends import BackendReport
from avbench.console import ms_text, sig
from avbench.tracking import RunLogger


def run_summary(name: str, cfg: DictConfig, device: torch.device, times: Any,
                metrics: dict[str, float], report: BackendReport,
                logger: RunLogger, failures: list[str] | None) -> dict[str, Any]:
    """The stage table and the headline lines printed at the end of a pipeline run."""
    medians = times.median_ms()
    lines = [
        ("RTF", f"{sig(metrics['rtf'])}  (processing time / audio duration)"),
        ("ASPS", f"{sig(metrics['asps'])}  audio seconds per second"),
        ("spread", spread_text(metrics, times, cfg.validity.min_samples)),
        ("sum vs total", f"{metrics['sum_vs_total_pct']:.2f} %"
                         + (f"; outer clock vs total {metrics['harness.outer_vs_total_pct']:+.3f} %"
                            if "harness.outer_vs_total_pct" in metrics else "")),
        *([("neural stages", f"{ms_text(metrics['neural_ms'])} ms median per run (stages with "
                             "neural components, their DSP included)"
                             + (f"; inside the components {ms_text(metrics['component_ms'])} ms"
                                if "component_ms" in metrics else ""))]
          if "neural_ms" in metrics else []),
        ("harness", harness_text(metrics, times)),
        *([("machine", f"while timing, other processes took {metrics['monitor.other_cpu_pct']:.1f} "
                       f"% of the CPU, the hypervisor (steal) {metrics['monitor.steal_pct']:.1f} %")]
          if "monitor.other_cpu_pct" in metrics else []),
        ("peak memory", f"{metrics['memory_peak_mb']:,.0f} MB "
                        + ("(this run: torch's peak + memory outside torch)" if device.type == "cuda"
                           else "(this run's peak process RSS)")
                        + (f", {metrics['memory_added_mb']:,.0f} MB above the process at the "
                           "run's start" if "memory_added_mb" in metrics else "")),
        ("device", f"{device} · {cfg.precision.name}"),
        ("backend", f"requested {report.requested}, effective {report.effective_summary}"
                    + (f", providers {report.tags()['backend.providers']}"
                       if report.providers else "")),
        ("cold start", f"model {metrics['cold.model_s']:.2f} s, export "
                       f"{metrics['cold.export_s']:.2f} s, build {metrics['cold.build_s']:.2f} s, "
                       f"load {metrics['cold.load_s']:.2f} s, first call "
                       f"{metrics['cold.first_call_s']:.2f} s, cache {report.cache_status}"),
    ]
    if "vs_eager.total_speedup" in metrics:
        lines.append(("vs fp32 eager", _vs_eager_line(metrics, cfg.bench.eager_side_by_side)))
    if report.fallback_reason:
        lines.append(("fallback", report.fallback_reason))
    if failures is not None:
        worst = {stage: metrics.get(f"parity.{stage}.rel_l2") for stage in times.stages}
        lines.append(("parity", ("PASS" if not failures else "FAIL: " + "; ".join(failures))
                      + "  (rel L2 " + ", ".join(f"{s} {v:.1e}" for s, v in worst.items()
                                                 if v is not None) + ")"))
    lines += _accuracy_lines(metrics)
    if logger.run_id:
        uri = getattr(logger, "uri", None)
        ui = "mlflow ui" + (f" --backend-store-uri {uri}" if uri else "")
        lines.append(("mlflow run", f"{logger.run_id}  (open with: {ui})"))
    return {"run_name": name, "stage_ms": {s: medians[s] for s in times.stages},
            "stage_pct": times.percentages(), "total_ms": medians["total"], "lines": lines}


def spread_text(metrics: dict[str, float], times: Any, min_samples: int) -> str:
    """CV, the RTF's 95 % CI (or why there is none) and the repeats (x calls per batch)."""
    if "rtf.ci_low" in metrics:
        ci = f"RTF 95% CI [{sig(metrics['rtf.ci_low'])}, {sig(metrics['rtf.ci_high'])}]"
    else:
        ci = f"no 95% CI ({times.repeats} < {min_samples} samples)"
    batches = f" (batches of {times.loops:,} calls)" if times.loops > 1 else ""
    return f"CV {100 * metrics['rtf.cv']:.1f} %, {ci}, {times.repeats} repeats{batches}"


def harness_text(metrics: dict[str, float], times: Any) -> str:
    """The clock's share of a timed sample (per batch when batched), profiling and faults."""
    per = f"a batch of {times.loops:,} calls" if times.loops > 1 else "a run"
    text = f"clock {sig(metrics['harness.timer_overhead_pct'], 3)} % of {per}"
    if "harness.stage_clock_pct" in metrics:
        text += (f" (stage times from one profiled call per sample, whose clock costs "
                 f"{sig(metrics['harness.stage_clock_pct'], 3)} % of a call)")
    if "harness.profiling_overhead_pct" in metrics:
        text += f", profiling on vs off {metrics['harness.profiling_overhead_pct']:+.2f} %"
    if "harness.minor_faults_per_run" in metrics:
        text += f", {metrics['harness.minor_faults_per_run']:,.0f} page faults per run"
    return text


def _accuracy_lines(metrics: dict[str, float]) -> list[tuple[str, str]]:
    """Known-cost error (calibration) and pitch accuracy, where the run measured them."""
    lines = []
    errors = {k.rsplit(".", 1)[1]: v for k, v in metrics.items() if k.startswith("calibration.")}
    if errors:
        lines.append(("known cost", ", ".join(f"{stage} {err:+.2f} %"
                                              for stage, err in errors.items())))
    for prefix, label in (("", "pitch (pipeline)"), ("f0_clean.", "pitch (clean stem)")):
        if f"{prefix}pitch_rmse_hz" in metrics:
            lines.append((label, f"RMSE {metrics[f'{prefix}pitch_rmse_hz']:.2f} Hz, "
                                 f"RPA(50c) {metrics[f'{prefix}pitch_rpa_50c']:.3f}"))
    return lines


def _vs_eager_line(metrics: dict[str, float], pairs: int) -> str:
    """Speed-ups over the fp32 eager reference from interleaved pairs, with 95% CIs."""
    parts = [f"{metrics[f'vs_eager.{name}_speedup']:.3f}x {label}"
             + (f" [{metrics[f'vs_eager.{name}_speedup.ci_low']:.3f}, "
                f"{metrics[f'vs_eager.{name}_speedup.ci_high']:.3f}]"
                if f"vs_eager.{name}_speedup.ci_low" in metrics else "")
             for name, label in (("neural", "over the neural stages"), ("total", "in total"))
             if f"vs_eager.{name}_speedup" in metrics]
    ci = "95% CI" if "vs_eager.total_speedup.ci_low" in metrics else "no CI from so few pairs"
    return (", ".join(parts) + f" ({ci}; {pairs} interleaved pairs, "
            f"eager {metrics['vs_eager.eager_ms']:,.1f} ms vs {metrics['vs_eager.run_ms']:,.1f} ms)")
