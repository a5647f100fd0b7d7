"""Schemas of the data task's config nodes (``loader``, ``data``): the training-input
pipeline ``task=data`` times (docs/data.md). The root schema (avbench/config.py) holds them
as it holds the benchmark run's nodes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LoaderConfig:
    """task=data: how training batches are read (conf/loader/): naive | npy | mmap | shar."""

    name: str = "mmap"


@dataclass
class DataConfig:
    """task=data: the corpus, its features, the DataLoader and the train-step probe."""

    path: str | None = None  # a folder of WAV/FLAC/OGG; null: a generated corpus
    clips: int = 64  # generated corpus: number of clips
    min_s: float = 1.0  # generated corpus: clip lengths uniform in [min_s, max_s]
    max_s: float = 4.0
    source_sample_rate: int = 44100  # generated corpus: rate of the files (resampled on read)
    seed: int = 0
    sample_rate: int = 22050  # features: rate after resampling
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 80
    frame_length: int = 2048  # YIN window
    fmin: float = 65.0
    fmax: float = 1000.0
    cache_dir: str | None = None  # default: <paths.cache_dir or ~/.cache/avbench>/data
    shard_clips: int = 16  # clips per cache shard
    build_workers: int = 2  # processes building the cache (1: serial)
    batch_size: int = 8
    epochs: int = 3
    workers: int = 0  # DataLoader worker processes
    prefetch: int = 2  # batches prefetched per worker (workers > 0)
    pin_memory: bool = True  # page-locked batches (CUDA only)
    device_prefetch: bool = True  # copy the next batch to the GPU during the step (CUDA only)
    model_channels: int = 32  # train-step probe: HiFi-GAN upsample_initial_channel
    segment_frames: int = 32  # train-step probe: mel frames per clip per step
    wait_threshold_pct: float = 10.0  # loader wait share at or above which it is the bottleneck
    compare: list[str] = field(default_factory=list)  # variants timed loader-alone side by side
    compare_epochs: int = 2  # timed loader-alone epochs per compared variant (after one warm-up)
    compare_build: bool = False  # also time a fresh cache build serial vs parallel
