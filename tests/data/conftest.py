"""A tiny generated corpus and its feature cache, shared by the data tests."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from avbench.data.cache import FeatureCache
from avbench.data.corpus import Corpus, generate_corpus
from avbench.data.features import FeatureSettings

SETTINGS = FeatureSettings(sample_rate=16000, n_fft=512, hop_length=128, n_mels=40,
                           frame_length=1024, fmin=80.0, fmax=800.0)


def loader_cfg(**overrides: object) -> SimpleNamespace:
    base = {"workers": 0, "prefetch": 2, "pin_memory": False, "batch_size": 3, "seed": 7}
    return SimpleNamespace(**(base | overrides))


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """7 synthetic songs of 0.3-0.8 s at 22.05 kHz (resampled to 16 kHz by the features)."""
    return generate_corpus(tmp_path_factory.mktemp("data-corpus"), 7, 0.3, 0.8, 22050, seed=3)


@pytest.fixture(scope="session")
def tiny_cache(tiny_corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> FeatureCache:
    cache = FeatureCache(tmp_path_factory.mktemp("data-cache"), SETTINGS)
    cache.build(tiny_corpus.clips, shard_clips=3, workers=1)
    return cache
