"""The artifact cache: hit, miss, key change, corrupt entries rebuilt, concurrent builders."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from avbench.backends.cache import MANIFEST, ArtifactCache, file_digest
from avbench.backends.export import code_digest, module_digest

FIELDS = {"component": "vocoder", "dtype": "torch.float32", "torch": torch.__version__}


def writer(payload: bytes, calls: list[Path]):
    def build(path: Path) -> None:
        calls.append(path)
        path.write_bytes(payload)
    return build


def test_miss_then_hit(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path)
    calls: list[Path] = []
    first = cache.entry("onnx", "vocoder", FIELDS, "model.onnx").get_or_build(
        writer(b"graph", calls))
    second = cache.entry("onnx", "vocoder", FIELDS, "model.onnx").get_or_build(
        writer(b"other", calls))
    assert (first.hit, second.hit) == (False, True) and len(calls) == 1
    assert first.path == second.path and second.path.read_bytes() == b"graph"
    manifest = json.loads((first.path.parent / MANIFEST).read_text())
    assert manifest["sha256"] == file_digest(first.path) and manifest["fields"] == FIELDS
    # Nothing but the artifact and its manifest is left in the entry (no temporary files).
    assert sorted(p.name for p in first.path.parent.iterdir()) == [MANIFEST, "model.onnx"]


def test_any_key_field_change_is_a_new_entry(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path)
    base = cache.entry("onnx", "vocoder", FIELDS, "model.onnx")
    for change in ({"dtype": "torch.float16"}, {"torch": "0.0"}, {"component": "flow"},
                   {"profile": [[1, 80, 16]]}):
        other = cache.entry("onnx", "vocoder", FIELDS | change, "model.onnx")
        assert other.dir != base.dir


def test_changing_one_weight_changes_the_model_hash(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv1d(4, 4, 3), nn.BatchNorm1d(4))
    before = module_digest(module)
    assert module_digest(module) == before  # stable
    with torch.no_grad():
        module[0].weight[0, 0, 0] += 1e-6
    after = module_digest(module)
    assert after != before
    cache = ArtifactCache(tmp_path)
    assert (cache.entry("onnx", "m", {"model_sha256": before}, "model.onnx").dir
            != cache.entry("onnx", "m", {"model_sha256": after}, "model.onnx").dir)
    # Precision is part of the content too.
    assert module_digest(module.half()) != after


class Gain(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x


class OtherGain(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 3 * x


def test_the_forward_code_is_part_of_the_key() -> None:
    """Same weights (none), other forward code: the graph traced from it differs."""
    one, other = nn.Sequential(nn.Conv1d(4, 4, 3), Gain()), nn.Sequential(nn.Conv1d(4, 4, 3),
                                                                          OtherGain())
    assert code_digest(one) == code_digest(nn.Sequential(nn.Conv1d(2, 2, 1), Gain()))
    assert code_digest(one) != code_digest(other)


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest", "no_manifest"])
def test_corrupt_entry_is_rebuilt_never_loaded(tmp_path: Path, damage: str) -> None:
    cache = ArtifactCache(tmp_path)
    calls: list[Path] = []
    entry = cache.entry("engine", "vocoder", FIELDS, "model.engine")
    path = entry.get_or_build(writer(b"x" * 4096, calls)).path
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "flip":
        path.write_bytes(b"y" + path.read_bytes()[1:])  # same size, other content
    elif damage == "manifest":
        (path.parent / MANIFEST).write_text("{not json")
    else:
        (path.parent / MANIFEST).unlink()
    assert not entry.valid()
    result = entry.get_or_build(writer(b"x" * 4096, calls))
    assert not result.hit and result.rebuilt_corrupt and len(calls) == 2
    assert result.path.read_bytes() == b"x" * 4096 and entry.valid()


def test_failed_build_leaves_no_entry(tmp_path: Path) -> None:
    entry = ArtifactCache(tmp_path).entry("onnx", "vocoder", FIELDS, "model.onnx")

    def fail(path: Path) -> None:
        path.write_bytes(b"half")
        raise RuntimeError("export failed")

    with pytest.raises(RuntimeError, match="export failed"):
        entry.get_or_build(fail)
    assert not entry.dir.exists()
    with pytest.raises(RuntimeError, match="no output"):
        entry.get_or_build(lambda path: None)  # a build that writes nothing is an error
    assert not entry.dir.exists()


def _slow_builder(root: str, marker: str, start: Any, results: Any) -> None:
    import time

    start.wait(60)  # both processes are up: they race for the same entry from here

    def build(path: Path) -> None:
        with open(marker, "a") as handle:  # one line per actual build
            handle.write("built\n")
        with path.open("wb") as handle:  # written slowly: a reader must never see it half done
            for _ in range(20):
                handle.write(b"z" * 1000)
                handle.flush()
                time.sleep(0.02)

    result = ArtifactCache(Path(root)).entry("engine", "v", FIELDS, "model.engine").get_or_build(
        build)
    results.put(f"{result.hit}:{file_digest(result.path)}")


def race(target: Any, tmp_path: Path) -> tuple[str, list[tuple[str, str]]]:
    """Run ``target(cache_root, marker, barrier, queue)`` in two spawned processes that
    start together; return the marker file's text and each process's ``hit:what`` result."""
    ctx = multiprocessing.get_context("spawn")
    marker = tmp_path / "builds.txt"
    start, queue = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=target,
                           args=(str(tmp_path / "cache"), str(marker), start, queue))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    results = sorted(queue.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    return marker.read_text(), [tuple(r.split(":", 1)) for r in results]


def test_two_concurrent_builders_build_once(tmp_path: Path) -> None:
    marker, results = race(_slow_builder, tmp_path)
    assert marker == "built\n"  # one build, the other process waited and hit
    hits = [hit for hit, _ in results]
    digests = {digest for _, digest in results}
    assert sorted(hits) == ["False", "True"] and len(digests) == 1


def fill_with(folder, payloads: dict[str, bytes], calls: list[str]) -> bool:
    with folder.fill() as hit:
        if not hit:
            calls.append("filled")
            for name, data in payloads.items():
                (folder.dir / name).parent.mkdir(parents=True, exist_ok=True)
                (folder.dir / name).write_bytes(data)
    return hit


ENGINES = {"a.engine": b"e" * 2048, "a.profile": b"p" * 64, "sub/b.engine": b"f" * 512}


def test_folder_is_filled_once_then_sealed(tmp_path: Path) -> None:
    folder = ArtifactCache(tmp_path).folder("ort-tensorrt", "vocoder", FIELDS)
    calls: list[str] = []
    assert fill_with(folder, ENGINES, calls) is False
    assert fill_with(folder, {"other": b"x"}, calls) is True and calls == ["filled"]
    manifest = json.loads(folder.manifest.read_text())
    assert manifest["files"]["sub/b.engine"] == {"sha256": file_digest(folder.dir / "sub/b.engine"),
                                                 "size": 512}
    assert sorted(manifest["files"]) == sorted(ENGINES) and manifest["fields"] == FIELDS


@pytest.mark.parametrize("damage", ["truncate", "flip", "added", "removed", "no_manifest"])
def test_altered_folder_is_emptied_and_filled_again(tmp_path: Path, damage: str) -> None:
    folder = ArtifactCache(tmp_path).folder("ort-tensorrt", "vocoder", FIELDS)
    calls: list[str] = []
    fill_with(folder, ENGINES, calls)
    engine = folder.dir / "a.engine"
    if damage == "truncate":
        engine.write_bytes(engine.read_bytes()[:10])
    elif damage == "flip":
        engine.write_bytes(b"E" + engine.read_bytes()[1:])
    elif damage == "added":  # e.g. an engine the library rebuilt for another shape
        (folder.dir / "stray.engine").write_bytes(b"s")
    elif damage == "removed":
        engine.unlink()
    else:  # a fill that died before it was sealed
        folder.manifest.unlink()
    assert not folder.valid()
    assert fill_with(folder, ENGINES, calls) is False and calls == ["filled", "filled"]
    assert folder.valid() and not (folder.dir / "stray.engine").exists()
    assert engine.read_bytes() == ENGINES["a.engine"]


def test_failed_or_empty_fill_leaves_no_folder(tmp_path: Path) -> None:
    folder = ArtifactCache(tmp_path).folder("ort-tensorrt", "vocoder", FIELDS)
    with pytest.raises(RuntimeError, match="engine build failed"), folder.fill():
        (folder.dir / "half.engine").write_bytes(b"h")
        raise RuntimeError("engine build failed")
    assert not folder.dir.exists()
    with folder.fill() as hit:  # the library wrote nothing: no error, nothing cached
        assert hit is False and folder.dir.is_dir()
    assert not folder.dir.exists()
    calls: list[str] = []
    assert fill_with(folder, ENGINES, calls) is False and calls == ["filled"]


def _slow_filler(root: str, marker: str, start: Any, results: Any) -> None:
    import time

    start.wait(60)
    folder = ArtifactCache(Path(root)).folder("ort-tensorrt", "v", FIELDS)
    with folder.fill() as hit:
        if not hit:
            with open(marker, "a") as handle:
                handle.write("filled\n")
            for index in range(5):  # slowly, file by file, as a library would
                (folder.dir / f"{index}.engine").write_bytes(b"z" * 1000)
                time.sleep(0.05)
        results.put(f"{hit}:{sorted(folder.files())}")


def test_two_concurrent_fillers_fill_once(tmp_path: Path) -> None:
    marker, results = race(_slow_filler, tmp_path)
    assert marker == "filled\n"
    hits = [hit for hit, _ in results]
    seen = {files for _, files in results}
    assert hits == ["False", "True"] and len(seen) == 1  # the waiter saw all five files


def test_additive_folder_keeps_and_seals_engines_added_later(tmp_path: Path) -> None:
    folder = ArtifactCache(tmp_path).folder("ort-tensorrt", "vocoder", FIELDS, additive=True)
    calls: list[str] = []
    fill_with(folder, ENGINES, calls)
    # The provider adds an engine for a new shape after the folder was sealed.
    (folder.dir / "new-shape.engine").write_bytes(b"n" * 100)
    assert folder.valid()
    assert fill_with(folder, ENGINES, calls) is True and calls == ["filled"]
    sealed = json.loads(folder.manifest.read_text())["files"]
    assert sealed["new-shape.engine"] == {"sha256": file_digest(folder.dir / "new-shape.engine"),
                                          "size": 100}
    # Once sealed in, the added engine is checked like the others.
    (folder.dir / "new-shape.engine").write_bytes(b"n" * 10)
    assert not folder.valid()
    assert fill_with(folder, ENGINES, calls) is False and calls == ["filled", "filled"]
    assert not (folder.dir / "new-shape.engine").exists()


@pytest.mark.parametrize("damage", ["truncate", "removed"])
def test_additive_folder_with_a_changed_sealed_file_is_emptied(tmp_path: Path,
                                                               damage: str) -> None:
    folder = ArtifactCache(tmp_path).folder("ort-tensorrt", "vocoder", FIELDS, additive=True)
    calls: list[str] = []
    fill_with(folder, ENGINES, calls)
    engine = folder.dir / "sub/b.engine"
    if damage == "truncate":
        engine.write_bytes(b"f")
    else:
        engine.unlink()
    assert not folder.valid()
    assert fill_with(folder, ENGINES, calls) is False and calls == ["filled", "filled"]
    assert engine.read_bytes() == ENGINES["sub/b.engine"]
