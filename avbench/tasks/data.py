"""task=data: is the training step starved by the data loader?

One run: a corpus (generated or ``data.path``), its feature cache built (parallel, atomic,
resumable), a DataLoader of the chosen ``loader=`` variant feeding the train-step probe for
``data.epochs`` epochs. Each epoch is drawn twice: once by the loader alone (its capacity),
once with the step (what training sees). ``data.compare=[naive,npy,mmap]`` also times those
variants loader-alone side by side in this run, at the same worker count.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import psutil
from omegaconf import DictConfig

from avbench import console
from avbench.data.cache import FeatureCache
from avbench.data.corpus import load_corpus, to_cuts
from avbench.data.features import FeatureSettings
from avbench.data.loaders import VARIANTS, build_shar, epoch_batches, make_loader
from avbench.data.probe import EpochStats, TrainStep, median, run_epoch, to_device
from avbench.data.verdict import verdict
from avbench.measure.threads import apply_threads
from avbench.measure.validity import judge_epochs
from avbench.phases.judge import thresholds, warn
from avbench.runtime import ConfigError, resolve_cache_dir, resolve_device
from avbench.tracking import RunLogger


def run_name(cfg: DictConfig) -> str:
    """e.g. data-mmap-w2."""
    return cfg.run_name or f"data-{cfg.loader.name}-w{cfg.data.workers}"


def execute(cfg: DictConfig, logger: RunLogger, out_dir: Path, name: str) -> dict[str, Any]:
    data = cfg.data
    variant = cfg.loader.name
    unknown = sorted({variant, *data.compare} - set(VARIANTS))
    if unknown:
        raise ConfigError(f"loader/data.compare has {unknown}; choose from {list(VARIANTS)}")
    device = resolve_device(cfg.gpu)
    apply_threads(cfg.bench.threads)
    settings = FeatureSettings.from_config(data)
    cache_dir = resolve_cache_dir(data.cache_dir, cfg.paths.cache_dir) / "data"
    corpus = load_corpus(data, cache_dir)
    cache = FeatureCache(cache_dir, settings)
    report = cache.build(corpus.clips, int(data.shard_clips), int(data.build_workers))
    cached = {e.id for e in cache.entries()}
    cuts = to_cuts(corpus).filter(lambda cut: cut.id in cached).to_eager()
    skipped = len(corpus.skipped) + len(report.failed)
    console.print_line(f"data · {len(cuts)} clips ({corpus.audio_s:.0f} s), {skipped} skipped · "
                       f"cache {report.size_mb:.1f} MB: {report.built} shard(s) built, "
                       f"{report.reused} reused in {report.seconds:.1f} s · loader={variant} "
                       f"workers={data.workers} on {device}")
    metrics: dict[str, Any] = {"data.cache_build_s": report.seconds,
                               "data.cache_size_mb": report.size_mb}
    logger.set_tags({"device": str(device), "data.clips": str(len(cuts)),
                     "data.skipped": str(skipped), "data.cache_shards_built": str(report.built),
                     "data.cache_shards_reused": str(report.reused),
                     "data.cache_shards_corrupt": str(report.corrupt),
                     "data.device_prefetch": str(device.type == "cuda" and data.device_prefetch)
                     .lower()})
    if data.compare_build:
        metrics |= _compare_build(corpus.clips, settings, out_dir, data)
    shar_dir = None
    if "shar" in {variant, *data.compare}:
        shar_dir = build_shar(cache, cuts, cache.root / f"shar-{data.shard_clips}",
                              int(data.shard_clips))
    step = TrainStep(settings, int(data.model_channels), int(data.segment_frames), device,
                     int(data.seed))
    epochs = _epochs(make_loader(variant, cuts, settings, cache, data, shar_dir), step, device,
                     int(data.epochs), bool(data.device_prefetch), logger)
    metrics |= _summary(epochs)
    judged = verdict(metrics["data.loader_wait_pct"], variant, int(data.workers),
                     int(data.prefetch), psutil.cpu_count() or 1, float(data.wait_threshold_pct))
    logger.set_tags({"data.bottleneck": judged.bottleneck,
                     "data.recommendation": judged.recommendation})
    if data.compare:
        metrics |= _compare(list(data.compare), cuts, settings, cache, data, shar_dir, device)
    logger.log_metrics(metrics)
    path = out_dir / "data_epochs.json"
    path.write_text(json.dumps({"epochs": epochs,
                                "metrics": metrics, "bottleneck": judged.bottleneck,
                                "recommendation": judged.recommendation,
                                "skipped": corpus.skipped + report.failed}, indent=2))
    logger.log_artifact(path)
    _judge(cfg, logger, name, epochs)
    console.print_line(f"data · {metrics['data.samples_per_s']:.1f} samples/s with the step, "
                       f"{metrics['data.loader_samples_per_s']:.1f} loader alone, wait "
                       f"{metrics['data.loader_wait_pct']:.1f}% · bottleneck: "
                       f"{judged.bottleneck} ({judged.reason}) -> {judged.recommendation}")
    return metrics


def _judge(cfg: DictConfig, logger: RunLogger, name: str, epochs: list[dict[str, Any]]) -> None:
    """The run's validity from the epochs its medians are taken over (after the first, or the
    one epoch there is): tagged, warned about, and the first summary line."""
    validity = judge_epochs([row["data.samples_per_s"] for row in epochs[1:] or epochs],
                            thresholds(cfg))
    logger.set_tags(validity.tags())
    warn(validity)
    console.print_line(console.verdict_line(name, validity.headline()))


def _epoch_row(alone: EpochStats, with_step: EpochStats) -> dict[str, Any]:
    row = {"data.loader_samples_per_s": alone.samples_per_s,
           "data.samples_per_s": with_step.samples_per_s,
           "data.audio_s_per_s": with_step.audio_s_per_s,
           "data.loader_wait_pct": with_step.wait_pct,
           "data.step_ms.p50": median(with_step.step_ms)}
    row |= {f"data.cpu_pct.{proc}": pct for proc, pct in with_step.cpu_pct.items()}
    return row


def _epochs(loader: Any, step: TrainStep, device: Any, count: int, device_prefetch: bool,
            logger: RunLogger) -> list[dict[str, Any]]:
    """Per epoch: the loader alone, then with the step; logged with step=epoch."""
    rows = []
    for epoch in range(count):
        alone = run_epoch(epoch_batches(loader, epoch), None, device)
        batches = to_device(epoch_batches(loader, epoch), device, device_prefetch)
        row = _epoch_row(alone, run_epoch(batches, step, device))
        # Per-epoch series under data.epoch.*; the run's summary keeps the plain names.
        logger.log_metrics({k.replace("data.", "data.epoch.", 1): v for k, v in row.items()},
                           step=epoch)
        console.print_line(f"  epoch {epoch}: loader alone {alone.samples_per_s:.1f}/s · with "
                           f"step {row['data.samples_per_s']:.1f}/s, wait "
                           f"{row['data.loader_wait_pct']:.1f}%, step "
                           f"{row['data.step_ms.p50']:.1f} ms")
        rows.append(row)
    return rows


def _summary(epochs: list[dict[str, Any]]) -> dict[str, float]:
    """Medians over the epochs after the first (the first alone when there is one),
    plus the first epoch's figures as ``.first_epoch``."""
    later = epochs[1:] or epochs
    keys = sorted({k for row in later for k in row})
    out = {k: median([row[k] for row in later if k in row]) for k in keys}
    for key in ("data.loader_samples_per_s", "data.samples_per_s", "data.loader_wait_pct"):
        out[f"{key}.first_epoch"] = epochs[0][key]
    return out


def _compare(variants: list[str], cuts: Any, settings: FeatureSettings, cache: FeatureCache,
             data: Any, shar_dir: Path | None, device: Any) -> dict[str, float]:
    """Every variant loader-alone at the same workers: one warm-up epoch, then the median."""
    rates: dict[str, float] = {}
    for variant in variants:
        loader = make_loader(variant, cuts, settings, cache, data, shar_dir)
        run_epoch(epoch_batches(loader, 0), None, device)
        rates[variant] = median([run_epoch(epoch_batches(loader, e), None, device).samples_per_s
                                 for e in range(1, 1 + int(data.compare_epochs))])
        del loader  # ends its persistent workers before the next variant starts its own
        console.print_line(f"  compare {variant}: {rates[variant]:.1f} samples/s loader alone")
    out = {f"data.loader_samples_per_s.{v}": r for v, r in rates.items()}
    for fast in ("mmap", "shar"):
        for slow in ("naive", "npy"):
            if fast in rates and slow in rates and rates[slow] > 0:
                out[f"data.speedup.{fast}_vs_{slow}"] = rates[fast] / rates[slow]
    return out


def _compare_build(clips: list, settings: FeatureSettings, out_dir: Path,
                   data: Any) -> dict[str, float]:
    """A fresh build serial, then with ``data.build_workers`` processes (scratch folders)."""
    out = {}
    for label, workers in (("serial", 1), ("parallel", int(data.build_workers))):
        scratch = out_dir / f"cache-build-{label}"
        shutil.rmtree(scratch, ignore_errors=True)
        report = FeatureCache(scratch, settings).build(clips, int(data.shard_clips), workers)
        out[f"data.cache_build_s.{label}"] = report.seconds
        shutil.rmtree(scratch, ignore_errors=True)
        console.print_line(f"  cache build {label} ({workers} process(es)): "
                           f"{report.seconds:.1f} s")
    return out
