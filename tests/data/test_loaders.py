"""Every loader variant yields the same features; naive, npy and mmap in the same order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from avbench.data.cache import FeatureCache
from avbench.data.corpus import Corpus, to_cuts
from avbench.data.loaders import build_shar, epoch_batches, make_loader
from tests.data.conftest import SETTINGS, loader_cfg


def _epochs(variant: str, corpus: Corpus, cache: FeatureCache, shar: Path | None = None,
            **cfg: object) -> list[list[dict]]:
    loader = make_loader(variant, to_cuts(corpus), SETTINGS, cache, loader_cfg(**cfg), shar)
    return [list(epoch_batches(loader, epoch)) for epoch in range(2)]


def _assert_same(a: list[dict], b: list[dict]) -> None:
    assert [x["ids"] for x in a] == [y["ids"] for y in b]
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x["mel"], y["mel"], rtol=0, atol=0)
        torch.testing.assert_close(x["f0_hz"], y["f0_hz"], rtol=0, atol=0)
        assert torch.equal(x["frames"], y["frames"])


def test_naive_npy_mmap_yield_identical_batches(tiny_corpus: Corpus,
                                                tiny_cache: FeatureCache) -> None:
    reference = _epochs("naive", tiny_corpus, tiny_cache)
    ids = [i for batch in reference[0] for i in batch["ids"]]
    assert sorted(ids) == sorted(c.id for c in tiny_corpus.clips)  # every clip once
    assert [b["ids"] for b in reference[0]] != [b["ids"] for b in reference[1]]  # reshuffled
    mel = reference[0][0]["mel"]
    assert mel.shape[2] == SETTINGS.n_mels and torch.isfinite(mel).all()
    assert (reference[0][0]["f0_hz"] > 0).any()  # the songs are voiced
    for variant in ("npy", "mmap", "numpy_hdf5"):
        for got, want in zip(_epochs(variant, tiny_corpus, tiny_cache), reference, strict=True):
            _assert_same(got, want)
    # lilcom is lossy by design: values rounded to multiples of 2^-5 (lhotse's tick_power=-5)
    for got, want in zip(_epochs("lilcom_chunky", tiny_corpus, tiny_cache), reference,
                         strict=True):
        assert [x["ids"] for x in got] == [y["ids"] for y in want]
        for x, y in zip(got, want, strict=True):
            torch.testing.assert_close(x["mel"], y["mel"], rtol=0, atol=2.0**-5)
            torch.testing.assert_close(x["f0_hz"], y["f0_hz"], rtol=0, atol=2.0**-5)


def test_workers_keep_batches_and_order(tiny_corpus: Corpus, tiny_cache: FeatureCache) -> None:
    in_process = _epochs("mmap", tiny_corpus, tiny_cache)
    for got, want in zip(_epochs("mmap", tiny_corpus, tiny_cache, workers=2), in_process,
                         strict=True):
        _assert_same(got, want)


@pytest.mark.parametrize("workers", [0, 2])
def test_shar_yields_the_same_features_per_clip(tiny_corpus: Corpus, tiny_cache: FeatureCache,
                                                tmp_path: Path, workers: int) -> None:
    shar = build_shar(tiny_cache, to_cuts(tiny_corpus), tmp_path / "shar", 3)
    want = {i: (b["mel"][k, :n], b["f0_hz"][k, :n])
            for b in _epochs("mmap", tiny_corpus, tiny_cache)[0]
            for k, (i, n) in enumerate(zip(b["ids"], b["frames"].tolist(), strict=True))}
    for epoch in _epochs("shar", tiny_corpus, tiny_cache, shar, workers=workers):
        got = {}
        for batch in epoch:
            for k, (i, n) in enumerate(zip(batch["ids"], batch["frames"].tolist(),
                                           strict=True)):
                got[i] = (batch["mel"][k, :n], batch["f0_hz"][k, :n])
        assert sorted(got) == sorted(want)
        for clip_id, (mel, f0) in got.items():
            assert np.array_equal(mel.numpy(), want[clip_id][0].numpy())
            assert np.array_equal(f0.numpy(), want[clip_id][1].numpy())
