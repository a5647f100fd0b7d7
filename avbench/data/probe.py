"""The train-step probe: draw an epoch from a loader, with or without a training step.

The step is a small HiFi-GAN generator trained as HiFi-GAN trains it on its mel loss: a
segment of each clip's log-mel in, audio out, L1 between the log-mel of that audio and the
input, backward, Adam step. ``run_epoch`` times the wait for each batch (the loader's share)
apart from the step (device-synchronised), and reads every worker process's CPU time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psutil
import torch

from avbench.data.features import FeatureSettings
from avbench.runtime import ConfigError


@dataclass
class EpochStats:
    samples: int = 0
    audio_s: float = 0.0
    wall_s: float = 0.0
    wait_s: float = 0.0  # time blocked on the loader for the next batch
    step_ms: list[float] = field(default_factory=list)
    cpu_pct: dict[str, float] = field(default_factory=dict)  # "main", "worker0", ...

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.wall_s if self.wall_s else 0.0

    @property
    def audio_s_per_s(self) -> float:
        return self.audio_s / self.wall_s if self.wall_s else 0.0

    @property
    def wait_pct(self) -> float:
        return 100.0 * self.wait_s / self.wall_s if self.wall_s else 0.0


class TrainStep:
    """Forward + backward + optimizer step of a small HiFi-GAN on ``segment_frames`` frames."""

    def __init__(self, settings: FeatureSettings, channels: int, segment_frames: int,
                 device: torch.device, seed: int = 0) -> None:
        from avbench.dsp.modules import LogMel
        from avbench.models.vocoder import HiFiGANConfig, HiFiGANGenerator

        rates = _upsample_rates(settings.hop_length)
        if channels < 2 ** len(rates):
            raise ConfigError(f"data.model_channels={channels} is too small: the generator "
                              f"halves it at each of {len(rates)} upsampling layers; use at "
                              f"least {2 ** len(rates)}")
        config = HiFiGANConfig(resblock="2", upsample_rates=rates,
                               upsample_kernel_sizes=tuple(2 * r for r in rates),
                               upsample_initial_channel=channels,
                               resblock_kernel_sizes=(3,), resblock_dilation_sizes=((1, 3),))
        torch.manual_seed(seed)
        self.device = device
        self.segment = segment_frames
        self.model = HiFiGANGenerator(config, settings.n_mels).to(device).train()
        self.log_mel = LogMel(settings.sample_rate, settings.n_fft, settings.hop_length,
                              settings.n_mels).to(device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=2e-4)

    def __call__(self, batch: dict) -> float:
        mel = _segments(batch["mel"], batch["frames"], self.segment).to(self.device)
        target = mel.transpose(1, 2)  # (B, n_mels, segment)
        audio = self.model(target).squeeze(1)
        predicted = self.log_mel(audio)[..., : self.segment]
        loss = torch.nn.functional.l1_loss(predicted, target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


def _upsample_rates(hop_length: int) -> tuple[int, ...]:
    rates, rest = [], hop_length
    for factor in (8, 8, 4, 2, 2):
        if rest % factor == 0 and rest > 1:
            rates.append(factor)
            rest //= factor
    if rest != 1:
        raise ValueError(f"data.hop_length={hop_length} is not a product of 8, 8, 4, 2, 2; "
                         "use a hop such as 256 for the train-step probe")
    return tuple(rates)


def _segments(mel: torch.Tensor, frames: torch.Tensor, segment: int) -> torch.Tensor:
    """The first ``segment`` frames of each clip (zero-padded when shorter)."""
    out = torch.zeros(mel.shape[0], segment, mel.shape[2], dtype=mel.dtype)
    take = min(segment, mel.shape[1])
    out[:, :take] = mel[:, :take]
    return out


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def to_device(batches: Iterable[dict], device: torch.device, prefetch: bool) -> Iterator[dict]:
    """Copy each batch's tensors to ``device``; on CUDA with ``prefetch``, the next batch is
    copied on a side stream while the current step runs. On the CPU this is the identity."""
    if device.type != "cuda":
        yield from batches
        return
    stream = torch.cuda.Stream(device) if prefetch else None
    pending: dict | None = None
    for batch in batches:
        with torch.cuda.stream(stream) if stream is not None else nullcontext():
            moved = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v
                     for k, v in batch.items()}
        if stream is None:
            yield moved
            continue
        if pending is not None:
            yield pending
        torch.cuda.current_stream(device).wait_stream(stream)
        pending = moved
    if pending is not None:
        yield pending


def _loader_workers(me: psutil.Process) -> list[psutil.Process]:
    """Live children that are not multiprocessing's helpers (the cache build's forkserver,
    the resource tracker): the DataLoader's worker processes."""
    workers = []
    for child in sorted(me.children(), key=lambda p: p.pid):
        try:
            if not any(helper in " ".join(child.cmdline()) for helper in _HELPERS):
                workers.append(child)
        except psutil.Error:
            continue
    return workers


_HELPERS = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")


def _cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) of this process and each loader worker."""
    me = psutil.Process()
    times = {"main": sum(me.cpu_times()[:2])}
    for i, child in enumerate(_loader_workers(me)):
        try:
            times[f"worker{i}"] = sum(child.cpu_times()[:2])
        except psutil.Error:
            continue
    return times


def run_epoch(batches: Iterable[dict], step: Callable[[dict], Any] | None,
              device: torch.device) -> EpochStats:
    """Draw every batch; with ``step``, run it on each. Times waits and steps apart."""
    stats = EpochStats()
    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    iterator = iter(batches)
    while True:
        wait_start = time.perf_counter()
        batch = next(iterator, None)
        stats.wait_s += time.perf_counter() - wait_start
        if batch is None:
            break
        stats.samples += len(batch["ids"])
        stats.audio_s += float(batch["audio_s"].sum())
        if step is not None:
            step_start = time.perf_counter()
            step(batch)
            synchronize(device)
            stats.step_ms.append(1e3 * (time.perf_counter() - step_start))
    stats.wall_s = time.perf_counter() - start
    cpu_after = _cpu_seconds()
    stats.cpu_pct = {k: 100.0 * (cpu_after[k] - cpu_before.get(k, 0.0)) / stats.wall_s
                     for k in cpu_after if stats.wall_s > 0}
    return stats


def median(values: list[float]) -> float:
    return float(np.median(values)) if values else 0.0
