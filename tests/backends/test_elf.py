"""DT_NEEDED entries read from real shared objects: a provider-like library compiled here
against a stub ``libnvinfer.so.10``, and torch's own libraries (checked against readelf)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from avbench.backends.elf import elf_needed, soname_major
from avbench.backends.ort_gpu import installed_nvinfer, nvinfer_soname


@pytest.fixture(scope="module")
def provider_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``libprovider.so`` linked against ``libnvinfer.so.10`` (a stub with that soname)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("needs a C compiler to build the test libraries")
    folder = tmp_path_factory.mktemp("elf")
    (folder / "stub.c").write_text("int getInferLibVersion(void) { return 101601; }\n")
    (folder / "provider.c").write_text("int getInferLibVersion(void);\n"
                                       "int provider(void) { return getInferLibVersion(); }\n")
    subprocess.run([cc, "-shared", "-fPIC", "-Wl,-soname,libnvinfer.so.10", "-o",
                    "libnvinfer.so", "stub.c"], cwd=folder, check=True)
    subprocess.run([cc, "-shared", "-fPIC", "-Wl,--no-as-needed", "-o", "libprovider.so",
                    "provider.c", "-L.", "-lnvinfer"], cwd=folder, check=True)
    return folder / "libprovider.so"


def test_the_needed_nvinfer_major_is_read_from_the_file(provider_library: Path) -> None:
    needed = elf_needed(provider_library)
    assert "libnvinfer.so.10" in needed
    assert soname_major(needed, "nvinfer") == 10
    assert nvinfer_soname(provider_library) == "libnvinfer.so.10"
    assert nvinfer_soname(provider_library.with_name("libnvinfer.so")) is None  # the stub


def test_not_an_elf_file_and_no_library(tmp_path: Path) -> None:
    text = tmp_path / "libonnxruntime_providers_tensorrt.so"
    text.write_bytes(b"libnvinfer.so.10 is only a string here")
    with pytest.raises(ValueError, match="not a 64-bit ELF"):
        elf_needed(text)
    assert nvinfer_soname(text) is None
    assert nvinfer_soname(tmp_path / "absent.so") is None
    assert soname_major(["libnvinfer_plugin.so.10", "libnvinfer.so"], "nvinfer") is None


@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs binutils' readelf")
def test_torchs_library_reads_as_readelf_reads_it() -> None:
    library = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    listing = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True,
                             check=True).stdout
    expected = [line.split("[", 1)[1].rstrip("]") for line in listing.splitlines()
                if "(NEEDED)" in line]
    assert elf_needed(library) == expected and "libc10.so" in expected


def test_no_tensorrt_package_here_ships_libnvinfer() -> None:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        assert installed_nvinfer() == {}
    else:
        pytest.skip("tensorrt is installed here")
